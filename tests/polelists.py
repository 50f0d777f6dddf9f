"""A list of 50 poles made from real codes, with the bad rows a person makes (for the CSV and app tests)."""

from __future__ import annotations

import csv
import io

import pandas as pd


def fifty_poles(com: pd.DataFrame) -> tuple[str, dict]:
    """The CSV text of 52 rows (50 usable poles, 4 bad rows) and what each row should give."""
    firsts = com.sort_values("CODGEO").drop_duplicates("DEP")
    firsts = firsts[~firsts["DEP"].isin(["74", "07"])].head(45)
    rows, expect = [], {}
    for i, r in enumerate(firsts.itertuples(index=False)):
        pid = f"p{i + 1:02d}"
        if i < 10:  # the commune's EPCI
            rows.append({"id": pid, "nom": f"EPCI de {r.LIBGEO}", "epci": r.EPCI, "confiance": "moyenne"})
            expect[pid] = set(com.loc[com["EPCI"] == r.EPCI, "CODGEO"])
        else:  # the commune and its neighbour in code order
            nxt = com.loc[(com["DEP"] == r.DEP) & (com["CODGEO"] > r.CODGEO), "CODGEO"].min()
            rows.append({"id": pid, "nom": r.LIBGEO, "communes": f"{r.CODGEO};{nxt}", "type_pole": "filière"})
            expect[pid] = {r.CODGEO, nxt}
    rows.append({"id": "ardeche", "nom": "Ardèche « entière »", "departements": "07", "confiance": "haute"})
    expect["ardeche"] = set(com.loc[com["DEP"] == "07", "CODGEO"])
    rows.append({"id": "gresilles", "nom": "Les Grésilles", "qpv": "QP021004"})
    expect["gresilles"] = None  # a QPV outline
    rows.append({"id": "mixte", "nom": "=HYPERLINK(\"x\")", "communes": "07010", "epci": "244000659"})
    expect["mixte"] = {"07010"} | set(com.loc[com["EPCI"] == "244000659", "CODGEO"])
    rows.append({"id": "bad-unknown", "nom": "Code inconnu", "communes": "07019;99999", "confiance": "faible"})
    expect["bad-unknown"] = {"07019"}
    rows.append({"id": "bad-merged", "nom": "Commune fusionnée", "communes": "74010 ; 74011"})
    expect["bad-merged"] = {"74010"}
    rows.append({"id": "bad-empty", "nom": "Sans code"})
    rows.append({"id": "p03", "nom": "Doublon", "communes": "07010"})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["id", "nom", "communes", "epci", "departements", "qpv", "confiance",
                                              "type_pole"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue(), expect
