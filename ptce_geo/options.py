"""The options every figure depends on, in one small frozen object.

A :class:`~ptce_geo.scorecard.Scorecard`, a zone overlap and an export are computed
with one :class:`Options`; the object travels with the results, so a table always says
how it was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import InvalidInput

__all__ = ["Options", "DEFAULT_THRESHOLD", "DEFAULT_TOLERANCE", "WEIGHTS", "check_share"]

#: default sliver threshold t (share of the pole)
DEFAULT_THRESHOLD = 0.01
#: default relation tolerance (share below which a contact is not an overlap)
DEFAULT_TOLERANCE = 0.01
#: measures of shares
WEIGHTS = ("area", "population")


def check_share(name: str, value: object, fr_name: str) -> float:
    """``value`` as a share in [0, 1), or an :class:`InvalidInput` naming the fix."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise InvalidInput(f"{name} {value!r} is not a share: give a number in [0, 1), such as 0.01.",
                           fr=f"{fr_name} {value!r} invalide : donnez une part entre 0 et 1, par exemple 0,01.")
    return float(value)


@dataclass(frozen=True)
class Options:
    """How shares are measured and read.

    Parameters
    ----------
    threshold : float
        t: a partial piece below this share of the pole is a sliver (reported, not
        counted). Default 0.01.
    weight : {"area", "population"}
        The measure of shares. Default ``"area"``.
    tolerance : float
        Relation tolerance of zone overlaps: both shares below it is a mere contact,
        a share of at least ``1 - tolerance`` is inclusion. Default 0.01; below 0.5.

    Raises
    ------
    InvalidInput
        When a value is out of range, naming the fix.
    """

    threshold: float = DEFAULT_THRESHOLD
    weight: str = "area"
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", check_share("threshold", self.threshold, "Seuil"))
        object.__setattr__(self, "tolerance", check_share("tolerance", self.tolerance, "Tolérance"))
        if self.tolerance >= 0.5:  # "inside" and "mere contact" would overlap
            raise InvalidInput(f"tolerance {self.tolerance!r} is too large: give a share below 0.5, such as 0.01.",
                               fr="La tolérance doit rester inférieure à 50 % (par exemple 1 %).")
        weight = self.weight or "area"
        if weight not in WEIGHTS:
            raise InvalidInput(f"weight {weight!r} is unknown: use 'area' or 'population'.",
                               fr=f"Pondération inconnue « {weight} » : choisissez la surface ou la population.")
        object.__setattr__(self, "weight", weight)

    def as_dict(self) -> dict[str, object]:
        """The options as plain values (for provenance records)."""
        return asdict(self)
