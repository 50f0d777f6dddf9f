"""The pages of the Streamlit app (``app.py``): one module per page, shared helpers in ``common``."""
