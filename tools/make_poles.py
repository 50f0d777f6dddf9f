"""Generate ``poles.geojson`` from the research table and the project's own French texts.

One-off generator, kept for the record and for a new COG vintage. It reads
``../shared/research/ptce_annex1.csv`` (facts: codes in COG 2024, seat, sources,
confidence), checks every code against the loaded communes and EPCI layers, computes the
derived properties (today's régions and départements, the seat's name), takes the
descriptions and notes from :data:`TEXTS` (written by the project, in French), and builds
the geometries with :func:`ptce_geo.poles.build_feature_collection`.

Run (from the repository root, with the mirror)::

    PTCE_GEO_MIRROR=../shared/data PTCE_GEO_CATALOGUE=boundaries/mirror-2024.toml \\
        .venv/bin/python tools/make_poles.py [--csv PATH] [--seed PATH] [--output poles.geojson]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

import pandas as pd
import shapely

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ptce_geo._http import atomic_write_bytes  # noqa: E402
from ptce_geo.catalogue import load_catalogue  # noqa: E402
from ptce_geo.layers import load_layer  # noqa: E402
from ptce_geo.perimeters import expand_codes, qpv_outlines, read_perimeters  # noqa: E402
from ptce_geo.poles import build_feature_collection, dumps_geojson  # noqa: E402
from ptce_geo.projection import area_m2  # noqa: E402
from ptce_geo.profiles import territory_profile, urban_units_from_table  # noqa: E402

logger = logging.getLogger("make_poles")

CSV = REPO.parent / "shared" / "research" / "ptce_annex1.csv"
SEED = REPO.parent / "shared" / "seed" / "000_9e1efa3322657d70.txt"
COG = 2024
CONFIANCE = {"high": "haute", "medium": "moyenne", "low": "faible"}

#: corrections to the research table's code lists, each with its reason (docs/poles.md,
#: "Changes to the research table", and each pole's note_perimetre)
CODE_FIXES = {
    # The research text lists the eight Seine-Saint-Denis communes bordering Paris, but the
    # code column omits Bagnolet and Montreuil, which border the 20e arrondissement (a
    # member): both are added, as the source says "les communes limitrophes".
    "ptce10": {"communes": ["75056", "93070", "93066", "93001", "93055", "93061", "93045", "93006", "93048"]},
    # La Coursive Boutaric acts in the Grésilles neighbourhood (the seed and the research
    # notes): the outline of the QPV "Les Grésilles" (2015 list, QP021004, the generation the
    # mirror holds; the research left the code unverified, it is checked against the QPV
    # layer here) replaces the whole commune of Dijon, about 140 times its area.
    "ptce03": {"communes": [], "qpv": ["QP021004"]},
    # The research notes name the PNR de Millevaches as the territory the pole's study chose,
    # without its commune list: the communes are taken from the park's INPN outline by
    # PNR_RULE (see pnr_communes) instead of three core communes (6 % of the park).
    "ptce16": {"communes": "PNR:FR8000045"},
    # The sources state the CC du Pays de Bray and "quelques territoires environnants" in Oise
    # and Seine-Maritime, documenting only the recyclerie at Gournay-en-Bray: that commune
    # replaces the inferred CC des 4 rivières en Bray (71 % of the former area).
    "ptce23": {"epci": ["246000913"], "communes": ["76312"]},
}

#: confidence changed from the research table's, with the reason (docs/poles.md)
CONFIANCE_FIXES = {
    "ptce03": "moyenne",  # a QPV outline of 2015 for the neighbourhood; members come from the whole agglomeration
    "ptce23": "moyenne",  # the stated core is clean, the "territoires environnants" are only partly documented
    "ptce16": "moyenne",  # a stated area (the PNR) matched to communes by the project from a simplified outline
}

#: a commune belongs to a park's perimeter when at least this share of its area lies in the
#: park's outline; the rule must be clear-cut: no commune between PNR_GAP[0] and PNR_GAP[1]
PNR_RULE = 0.5
PNR_GAP = (0.3, 0.8)

#: the seed's typology ("PTCE multi-activités" with a generalist positioning, "PTCE filières"
#: organised around one filière), read by the project from the activities the sources give;
#: None when nothing is known of the pole's activities. Second item: the filière named.
TYPES = {
    "ptce01": ("multi-activités", None), "ptce02": ("filière", "agriculture durable et éco-activités"),
    "ptce03": ("filière", "culture et industries créatives"), "ptce04": ("filière", "éco-construction et habitat"),
    "ptce05": ("filière", "culture"), "ptce06": ("filière", "énergies renouvelables (éolien citoyen)"),
    "ptce07": (None, None), "ptce08": ("multi-activités", None), "ptce09": ("multi-activités", None),
    "ptce10": ("filière", "livre et édition"), "ptce11": ("filière", "musique"), "ptce12": ("multi-activités", None),
    "ptce13": ("multi-activités", None), "ptce14": ("filière", "restauration sociale"),
    "ptce15": ("multi-activités", None), "ptce16": ("multi-activités", None), "ptce17": ("multi-activités", None),
    "ptce18": ("multi-activités", None), "ptce19": ("multi-activités", None), "ptce20": (None, None),
    "ptce21": ("filière", "blé, farine et pain bio et local"), "ptce22": ("multi-activités", None),
    "ptce23": ("multi-activités", None), "ptce24": ("multi-activités", None), "ptce25": ("multi-activités", None),
    "ptce26": ("filière", "musiques actuelles"), "ptce27": ("multi-activités", None),
    "ptce28": ("filière", "culture et industries créatives"), "ptce29": ("filière", "éco-construction et filière bois"),
}

#: the two national calls of the seed, where the research notes state the fact (else None:
#: unknown, not false). (appel_2011_pole_temoin, appel_2013_laureat, note_appels)
APPELS: dict[str, tuple[bool | None, bool | None, str]] = {
    "ptce02": (None, False, "Lauréat de l'appel de 2015 ; membre de la démarche nationale en 2014 sans être lauréat "
               "de celui de 2013 (notes de recherche, d'après rtes.fr et la Région Normandie)."),
    "ptce08": (None, True, "Lauréat de l'appel interministériel de 2013, résultats de janvier 2014 (notes de "
               "recherche, d'après tracesecritesnews.fr et la Banque des Territoires)."),
    "ptce18": (None, True, "Lauréat de l'appel interministériel de 2013 (notes de recherche, d'après recma.org)."),
    "ptce23": (None, True, "Lauréat de l'appel interministériel de 2013, résultats de janvier 2014 ; la fiche de "
               "candidature de 2013 est publique (notes de recherche)."),
    "ptce29": (None, False, "Constitué en PTCE en 2015, lauréat d'appels postérieurs à celui de 2013 (notes de "
               "recherche, d'après groupe-ecomedia.com)."),
}

#: the annex entry of each pole (nom, then the carrier in brackets when the annex gives one),
#: région and département exactly as written in annex 1 of the 2014 document
ANNEX = {
    "ptce01": ("PTCE Sud Aquitain", "CBE du Seignanx", "Aquitaine", "Landes"),
    "ptce02": ("Eco-domaine de Bouquetot", "ECOPYA", "Basse-Normandie", "Calvados"),
    "ptce03": ("La Coursive Boutaric", None, "Bourgogne", "Côte d’Or"),
    "ptce04": ("ECLIS - Eco Construction Locale & Initiatives Solidaires", None, "Bretagne", "Côtes d’Armor"),
    "ptce05": ("Les Articulteurs", None, "Bretagne", "Ille-et-Vilaine"),
    "ptce06": ("EPV - Eoliennes en Pays de Vilaine", None, "Bretagne", "Ille-et-Vilaine"),
    "ptce07": ("ARDAINES", None, "Champagne-Ardenne", "Ardennes"),
    "ptce08": ("Clus’Ter Jura", "Juratri", "Franche Comté", "Jura"),
    "ptce09": ("Entreprendre en Coopérant", None, "Haute-Normandie", "Seine-Maritime"),
    "ptce10": ("Fontaine O Livres", None, "Ile-de-France", "Nord-Est Francilien"),
    "ptce11": ("Paris Mix", None, "Ile-de-France", "Paris"),
    "ptce12": ("PôleS NOE", "RESEA 2P", "Ile-de-France", "Essonne"),
    "ptce13": ("PHARES - Pôle d’Hospitalité aux Activités à Rayonnement Ecologique et Solidaire", None,
               "Ile-de-France", "Seine-Saint-Denis"),
    "ptce14": ("Resto Passerelle", "APPUI", "Ile-de-France", "Paris, Seine-St-Denis, Val-de-Marne"),
    "ptce15": ("REALIS - Réseau Actif pour l’Innovation Sociale", None, "Languedoc-Roussillon", "Hérault"),
    "ptce16": ("De Fil En Réseaux", None, "Limousin", "Creuse"),
    "ptce17": ("Le Périscope", None, "Midi-Pyrénées", "Haute-Garonne"),
    "ptce18": ("Pôle tarnais de Coopération Economique", "Les Ateliers", "Midi-Pyrénées", "Tarn"),
    "ptce19": ("Lille MétroPôle Solidaire", "InitiativesETcité", "Nord-Pas-de-Calais", "Nord"),
    "ptce20": ("Pôle de Développement Environnemental Alpilles-Montagnette", "La Courte Echelle", "PACA",
               "Bouches-du-Rhône"),
    "ptce21": ("Bou’Sol", "Pain et Partage", "PACA", "Bouches-du-Rhône"),
    "ptce22": ("Les Ecossolies - Le Solilab", None, "Pays de la Loire", "Loire-Atlantique"),
    "ptce23": ("PTCE Pays de Bray", "Maison d’Economie Solidaire", "Picardie", "Oise, Seine-Maritime"),
    "ptce24": ("PTCE Niortais", None, "Poitou-Charentes", "Deux-Sèvres"),
    "ptce25": ("Domb’Innov", "Val Horizon", "Rhône-Alpes", "Ain"),
    "ptce26": ("Scène(s) de Musiques Actuelles de l’Ardèche - SMAC 07", None, "Rhône-Alpes", "Ardèche"),
    "ptce27": ("Pôle Sud", "Archer", "Rhône-Alpes", "Drôme"),
    "ptce28": ("Culture & Coopération", None, "Rhône-Alpes", "Loire"),
    "ptce29": ("InnoVales", "Alvéole", "Rhône-Alpes", "Haute Savoie"),
}

#: the project's French texts per pole: structure porteuse, filières, year, seat and
#: perimeter notes, description (written from the 2014 document and the research notes)
TEXTS: dict[str, dict] = {
    "ptce01": dict(
        structure="Comité de bassin d'emploi (CBE) du Seignanx, association loi 1901",
        filieres=["emploi, formation et insertion", "développement économique local", "incubation de projets ESS"],
        annee=2014, annee_detail="Démarche PTCE vers 2014 ; le CBE existe depuis 1982 et couvre le canton du Seignanx depuis 1993.",
        siege="Tarnos.",
        perimetre="Communauté de communes du Seignanx (8 communes), territoire d'action du CBE indiqué par les sources.",
        description="À l'extrême sud des Landes, près de Bayonne, le pôle réunit, avec le comité de bassin d'emploi du Seignanx "
        "pour pivot, une huitaine d'entreprises de l'ESS : restaurant et entreprise d'insertion, foyer de jeunes travailleurs, groupements "
        "d'employeurs, coopératives d'activités, organisme de formation. Ensemble, elles veillent d'abord à la continuité des "
        "parcours des personnes vers l'emploi et dans l'emploi. La gouvernance associe élus, employeurs, représentants des "
        "salariés et structures de l'ESS."),
    "ptce02": dict(
        structure="ECOPYA (Éco-domaine en Pays d'Auge), association",
        filieres=["agriculture durable", "éco-activités (spiruline, maraîchage, apiculture)", "éducation à l'environnement",
                  "tourisme vert"],
        annee=2009, annee_detail="Projet d'éco-domaine en 2009 ; association ECOPYA en 2010 ; lauréat de l'appel à projets interministériel de 2015 (résultats annoncés en janvier 2016).",
        siege="Site de l'éco-domaine (68 ha) à Saint-Pierre-Azif ; à ne pas confondre avec la commune de Bouquetot (Eure).",
        perimetre="Commune du site, Saint-Pierre-Azif, au Pays d'Auge. Le terrain appartient à la CC Cœur Côte Fleurie ; un "
        "rayonnement sur le Pays d'Auge est probable mais aucune source ne le délimite.",
        description="L'éco-domaine occupe une ancienne ferme préservée du Pays d'Auge, que la rencontre d'un entrepreneur et "
        "d'un élu local a permis de mettre en valeur. Ses activités se répondent comme dans un écosystème : les restes des "
        "jardins pédagogiques nourrissent un méthaniseur dont la chaleur profite à la culture de spiruline et aux bâtiments. "
        "Le pôle associe ainsi production agricole, tourisme vert et pédagogie de l'environnement."),
    "ptce03": dict(
        structure="La Coursive Boutaric, association",
        filieres=["culture", "industries culturelles et créatives"],
        annee=2010, annee_detail="Partenariat noué dès 2003 par un organisme HLM et une structure culturelle ; pôle ouvert en "
        "2010 dans l'immeuble Boutaric ; nouveau local en 2020, toujours aux Grésilles.",
        siege="Quartier des Grésilles, Dijon.",
        perimetre="Quartier prioritaire des Grésilles, à Dijon, par son contour officiel de la liste 2015 (code QP021004, "
        "0,34 km²) : le pôle y est installé et y mène ses actions. Ce contour remplace Dijon entière, environ 140 fois plus "
        "étendue, qui représentait auparavant le quartier. Le code du quartier dans la liste 2024 n'est pas vérifié par les "
        "sources. Les entreprises membres viennent de toute l'agglomération dijonnaise, que ce contour ne couvre pas : "
        "confiance moyenne.",
        description="Le pôle est né dans les Grésilles, quartier dijonnais en rénovation urbaine, d'une collaboration "
        "engagée en 2003 entre un organisme HLM et une structure culturelle. Une quinzaine d'entreprises culturelles et créatives y partagent, au sein "
        "d'un immeuble d'habitat social, bureaux, achats groupés, prospection commerciale et formations. En retour, elles "
        "conduisent dans le quartier des projets artistiques et de proximité avec les habitants."),
    "ptce04": dict(
        structure="SCIC ECLIS",
        filieres=["éco-construction et éco-habitat", "formation (restauration du patrimoine, construction en paille)"],
        annee=2009, annee_detail="SCIC créée en juillet 2009, active depuis janvier 2010.",
        siege="Près de Dinan ; commune exacte du siège non confirmée (Dinan retenue).",
        perimetre="Dinan Agglomération, approximation de l'ancien Pays de Dinan (80 communes selon la source) ; une partie de "
        "l'ancien Pays relève aujourd'hui d'autres intercommunalités (Côte d'Émeraude, Lamballe Terre & Mer).",
        description="La SCIC ECLIS est issue du conseil de développement du Pays de Dinan. Elle promeut une éco-construction "
        "locale, en particulier par des chantiers-écoles de restauration du patrimoine et de construction en paille. Elle "
        "relie artisans, collectivités et organismes de formation autour de l'habitat écologique."),
    "ptce05": dict(
        structure="Les Articulteurs, grappe d'entreprises ; tête de file historique : Fédération d'animation rurale en Pays de Vilaine",
        filieres=["culture et développement local", "insertion par la culture"],
        annee=2004, annee_detail="Partenariat européen EQUAL de 2004 à 2008 ; grappe d'entreprises DATAR en 2010.",
        siege="Redon supposé (non confirmé).",
        perimetre="Redon Agglomération (31 communes d'Ille-et-Vilaine, du Morbihan et de Loire-Atlantique), approximation du "
        "« Pays de Redon et Vilaine » cité par les sources.",
        description="Les Articulteurs sont issus d'un partenariat européen EQUAL conduit à partir de 2004 par la Fédération "
        "d'animation rurale en Pays de Vilaine. Le pôle réunit cinéma, théâtre, établissements médico-sociaux et structures "
        "d'insertion pour faire de la culture un levier du développement local. Son territoire, le pays de Redon, s'étend sur "
        "trois départements et deux régions."),
    "ptce06": dict(
        structure="Éoliennes en Pays de Vilaine (EPV), association, avec ses sociétés de projet (Site à Watts, Bégawatts…)",
        filieres=["énergies renouvelables citoyennes (éolien, puis solaire)", "sobriété énergétique", "mobilité"],
        annee=2003, annee_detail="Idée née en 2002 à Sainte-Anne-sur-Vilaine ; association créée en 2003 ; premier parc, à "
        "Béganne, inauguré en 2014 ; devenue Énergies citoyennes en Pays de Vilaine en 2016.",
        siege="Pays de Redon ; commune du siège non confirmée.",
        perimetre="Redon Agglomération, cœur du territoire, plus les communes des parcs éoliens hors agglomération (Sévérac, "
        "Guenrouët) et Sainte-Anne-sur-Vilaine, commune d'origine du projet ; Béganne et Avessac, autres communes de parcs, "
        "sont dans l'agglomération.",
        description="Tout est parti d'un couple de maraîchers convaincu que le vent du pays de Vilaine pouvait profiter à ceux "
        "qui y vivent. Quelque 700 particuliers ont réuni près de 1,8 million d'euros, aux côtés de la Région et de structures "
        "locales de l'ESS, pour financer un premier parc éolien coopératif mis en service à Béganne en 2014. D'autres parcs "
        "ont suivi, et l'association s'est ouverte au solaire, à la sobriété et à la mobilité."),
    "ptce07": dict(
        structure="ARDAINES (structure non identifiée)",
        filieres=[], annee=None, annee_detail=None, siege=None,
        perimetre="Seul le département (Ardennes) est connu, par l'annexe de 2014 ; aucune source publique consultée ne décrit "
        "le pôle : le département entier est une approximation par défaut.",
        description="ARDAINES figure dans la liste de 2014 des pôles engagés dans la démarche nationale des PTCE, au titre des "
        "Ardennes. Aucune source publique consultée ne décrit sa structure, ses activités ni son territoire. Le périmètre "
        "retenu, le département entier, n'est qu'une approximation par défaut."),
    "ptce08": dict(
        structure="Juratri (SCOP et entreprise d'insertion, recyclage), puis SCIC Clus'Ter Jura",
        filieres=["économie circulaire et recyclage", "insertion", "création d'activités sur des besoins non couverts"],
        annee=2013, annee_detail="Lancé par Juratri en 2013-2014 ; lauréat de l'appel à projets interministériel de 2013 "
        "(résultats annoncés en janvier 2014) ; SCIC Clus'Ter Jura en 2015-2016.",
        siege="Agglomération de Lons-le-Saunier (Juratri).",
        perimetre="Espace communautaire Lons agglomération (ECLA), déduit de l'implantation de Juratri ; le pôle se présente "
        "comme jurassien et peut agir bien au-delà. Périmètre déduit.",
        description="Clus'Ter Jura a été lancé par Juratri, coopérative d'insertion spécialisée dans le recyclage et installée "
        "dans l'agglomération de Lons-le-Saunier. Le pôle veut faire naître des activités et des filières sur des besoins que "
        "le marché laisse de côté, en associant entreprises, collectivités et structures d'insertion du Jura. Lauréat de "
        "l'appel à projets interministériel de 2013, il s'est ensuite constitué en SCIC."),
    "ptce09": dict(
        structure="Communauté de communes Caux vallée de Seine (aujourd'hui Caux Seine Agglo), service emploi et ESS",
        filieres=["économie circulaire (textile usagé, bois-énergie, bâtiment)", "insertion"],
        annee=2006, annee_detail="Démarche lancée en 2006 par la communauté de communes.",
        siege="Lillebonne, siège de l'intercommunalité.",
        perimetre="Caux Seine Agglo (50 communes), qui prolonge sous le même SIREN la communauté de communes de 2006 (47 "
        "communes) : territoire indiqué par les sources.",
        description="La démarche Entreprendre en coopérant a été engagée en 2006 par l'intercommunalité de Caux vallée de "
        "Seine, autour de Lillebonne. Elle fait travailler ensemble collectivité, entreprises et structures d'insertion pour "
        "créer des activités d'économie circulaire : valorisation des textiles usagés, bois-énergie, bâtiment. C'est l'un des "
        "rares pôles de la liste portés directement par une intercommunalité."),
    "ptce10": dict(
        structure="Fontaine O Livres, association (anciennement Fontaine Au Roi)",
        filieres=["livre et édition indépendante"],
        annee=1996, annee_detail="Association Fontaine Au Roi créée en 1996 ou 1997 selon les sources ; recentrée sur la "
        "filière du livre en 2005.",
        siege="Paris ; origine rue de la Fontaine-au-Roi (11e), arrondissement du siège non confirmé.",
        perimetre="Arrondissements du nord-est parisien (9e, 10e, 11e, 18e, 19e, 20e) et communes de Seine-Saint-Denis "
        "limitrophes de Paris. Paris n'est qu'une commune (75056) dans la couche des communes : la ville entière représente "
        "les six arrondissements (approximation). Les huit communes de Seine-Saint-Denis qui touchent Paris sont une liste "
        "déduite.",
        description="Fontaine O Livres fédère les professionnels indépendants du livre et de l'édition du nord-est parisien. "
        "Née d'une association de quartier de Belleville, elle s'est consacrée à la filière du livre à partir de 2005. Ses "
        "membres travaillent dans six arrondissements de Paris et dans les communes voisines de Seine-Saint-Denis."),
    "ptce11": dict(
        structure="Paris Mix, association et cluster musical lancé par Mondomix avec la Ville de Paris",
        filieres=["musique (musiques du monde)", "innovation", "diversité culturelle"],
        annee=2008, annee_detail="Créé en 2008 (2006 selon certaines sources) ; grappe d'entreprises DATAR en 2010.",
        siege="146 rue des Poissonniers, Paris 18e.",
        perimetre="Quartier Amiraux–Simplon (18e arrondissement), au cœur de l'action : le quartier est représenté par sa "
        "commune, Paris entière (75056), la couche des communes n'ayant pas d'arrondissements (approximation). Les membres "
        "sont répartis dans toute l'Île-de-France.",
        description="Paris Mix est un cluster consacré aux musiques du monde, lancé par le média Mondomix avec la Ville de "
        "Paris. Installé dans le 18e arrondissement, il agit surtout dans le quartier Amiraux–Simplon et les quartiers du "
        "nord-est parisien. Il rassemble des entreprises musicales de toute l'Île-de-France autour de l'innovation et de la "
        "diversité culturelle."),
    "ptce12": dict(
        structure="PôleS NOE, association qui prolonge RESEA 2P (créé en 2010)",
        filieres=["accompagnement de projets ESS", "services aux entreprises (conciergerie)", "événements (salon de l'ESS)"],
        annee=2010, annee_detail="RESEA 2P créé en 2010, devenu PôleS NOE.",
        siege="Les Ulis, quartier de Courdimanche.",
        perimetre="Communauté Paris-Saclay : le pôle décrit son territoire comme à peu près celui des anciennes CA du Plateau "
        "de Saclay et Europ'Essonne, fusionnées en 2016 dans cet EPCI ; quartiers prioritaires à Massy, Longjumeau et Les Ulis.",
        description="Héritier de RESEA 2P, PôleS NOE anime l'économie sociale et solidaire du nord-ouest de l'Essonne, du "
        "plateau de Saclay à Palaiseau et Massy. Il accompagne les porteurs de projets, offre aux entreprises des services "
        "mutualisés comme une conciergerie et organise un salon de l'ESS. Son bureau se trouve aux Ulis, dans le quartier de "
        "Courdimanche."),
    "ptce13": dict(
        structure="Association Halage (propriétaire du bâtiment), puis SCIC Le PHARES (décembre 2014)",
        filieres=["environnement et espaces verts", "insertion par l'activité économique", "éducation populaire",
                  "commerce équitable"],
        annee=2001, annee_detail="Bâtiment acquis par Halage en 2001 ; reconnu comme PTCE en 2013 ; SCIC en décembre 2014.",
        siege="6 rue Arnold-Géraux, L'Île-Saint-Denis.",
        perimetre="Commune du site, L'Île-Saint-Denis, seul ancrage documenté. Un rayonnement sur Plaine Commune "
        "(établissement public territorial qui a financé le pôle) est probable mais n'est pas retenu.",
        description="Le PHARES accueille des activités écologiques et solidaires dans un bâtiment que l'association "
        "d'insertion Halage a acheté en 2001 à L'Île-Saint-Denis. S'y côtoient des structures d'insertion, d'entretien des "
        "espaces verts, d'éducation populaire et de commerce équitable. Reconnu comme PTCE en 2013, le lieu est devenu une "
        "SCIC fin 2014."),
    "ptce14": dict(
        structure="APPUI, association",
        filieres=["restauration sociale et traiteur", "insertion (ateliers et chantiers d'insertion)",
                  "foyers de travailleurs migrants"],
        annee=2013, annee_detail="PTCE formalisé en 2013, après un travail engagé depuis 2003.",
        siege="Saint-Denis supposé : APPUI travaille depuis le quartier Franc-Moisin–Bel Air ; siège officiel non confirmé.",
        perimetre="Communes des restaurants membres cités en 2014 : Saint-Denis, Aubervilliers, Sevran, Romainville, Paris et "
        "Ivry-sur-Seine. Paris n'est qu'une commune (75056) : la ville entière représente un restaurant parisien "
        "(approximation).",
        description="Resto Passerelle fédère des cuisines collectives nées dans des foyers de travailleurs migrants, "
        "régularisées et devenues des restaurants d'insertion. Porté par l'association APPUI, le pôle développe la "
        "restauration sociale et le traiteur en s'appuyant sur des ateliers et chantiers d'insertion. Ses restaurants membres "
        "sont à Paris, en Seine-Saint-Denis et dans le Val-de-Marne."),
    "ptce15": dict(
        structure="Région Languedoc-Roussillon (aujourd'hui Occitanie) : pôle régional de l'entrepreneuriat social et solidaire",
        filieres=["pépinière et incubation d'entreprises ESS", "multi-filières"],
        annee=2013, annee_detail="Réseau actif depuis 2008 ; bâtiment ouvert en 2013 à Montpellier.",
        siege="Montpellier, Parc 2000 (quartier de Celleneuve).",
        perimetre="Ancienne région Languedoc-Roussillon (Aude, Gard, Hérault, Lozère, Pyrénées-Orientales), portée régionale "
        "affichée par le pôle ; le cœur de l'activité reste Montpellier Méditerranée Métropole.",
        description="REALIS est la pépinière régionale des entreprises de l'économie sociale et solidaire créée par la Région "
        "Languedoc-Roussillon. Installée à Montpellier dans un bâtiment ouvert en 2013, elle héberge et accompagne de jeunes "
        "entreprises de toutes filières. Sa vocation affichée couvre l'ancienne région entière."),
    "ptce16": dict(
        structure="De Fil en Réseaux, association d'environ treize associations et coopératives",
        filieres=["bois et bâtiment", "agriculture", "services", "tourisme", "culture", "environnement",
                  "accueil de nouveaux habitants"],
        annee=2005, annee_detail="Association créée en 2005.",
        siege="Siège non identifié (plateau de Millevaches) ; communes cœur : Faux-la-Montagne, Gentioux-Pigerolles et "
        "Peyrelevade.",
        perimetre="Parc naturel régional de Millevaches en Limousin, territoire retenu par l'étude commandée par le pôle, "
        "représenté par ses communes de Corrèze, de Creuse et de Haute-Vienne : celles dont au moins la moitié de la "
        "surface est dans le contour du parc publié par l'INPN (version simplifiée, vers 2020). La règle est franche : toutes "
        "ces communes ont plus de 80 % de leur surface dans le contour, les autres moins de 30 %. Ce contour suit la charte "
        "révisée de 2018, un peu plus étendue que le parc de 2015 (113 communes). Les trois communes cœur qui tenaient lieu "
        "de périmètre auparavant ne faisaient que 6 % du parc.",
        description="De Fil en Réseaux relie environ treize associations et coopératives du plateau de Millevaches, qui "
        "comptaient ensemble quelque 65 emplois. Le pôle travaille sur de nombreuses activités rurales à la fois, du "
        "bois et du bâtiment à l'agriculture, au tourisme et à la culture, ainsi que sur l'accueil de nouveaux habitants. Une "
        "étude qu'il a commandée a pris le parc naturel régional de Millevaches pour territoire de référence."),
    "ptce17": dict(
        structure="Association Le Périscope, avec le Sicoval",
        filieres=["création d'activités", "formation et recherche", "solidarité internationale", "innovation sociale"],
        annee=2012, annee_detail="Partenariat engagé en 2012 ; bâtiment inauguré en mars 2016.",
        siege="Ramonville-Saint-Agne, Parc technologique du Canal.",
        perimetre="Communauté d'agglomération du Sicoval (sud-est toulousain), qui a financé le bâtiment ; le pôle se dit "
        "aussi à vocation métropolitaine et régionale.",
        description="Le Périscope réunit au sud-est de Toulouse des acteurs de la création d'activités, de la formation, de la "
        "recherche et de la solidarité internationale. Avec l'appui du Sicoval, il s'est doté d'un bâtiment de 1 200 m² au "
        "Parc technologique du Canal, à Ramonville-Saint-Agne, inauguré en 2016. Il revendique une vocation à la fois locale, "
        "métropolitaine et régionale."),
    "ptce18": dict(
        structure="Les Ateliers, association",
        filieres=["épicerie sociale", "ressourcerie", "circuits courts paysans", "culture", "textile"],
        annee=2011, annee_detail="Association lancée en 2011 ; lauréate de l'appel à projets interministériel de 2013 "
        "(résultats annoncés en janvier 2014).",
        siege="Rue Mérigonde, Castres (friche industrielle de 4 000 m²).",
        perimetre="Communauté d'agglomération de Castres-Mazamet, déduite de l'implantation à Castres ; des producteurs "
        "membres viennent de communes voisines hors agglomération, et le nom du pôle vise tout le Tarn. Périmètre déduit.",
        description="Les Ateliers occupent une ancienne friche industrielle de Castres où voisinent épicerie sociale, "
        "ressourcerie, vente directe de produits paysans, activités culturelles et textiles. Des agriculteurs tarnais ont "
        "rejoint le projet pour y écouler leurs productions. Le pôle a été retenu par l'appel à projets interministériel de 2013."),
    "ptce19": dict(
        structure="InitiativesETcité (Initiatives & Cité), SCIC et cluster, avec la Métropole européenne de Lille ; SCIC liquidée en 2025",
        filieres=["services aux acteurs du développement local durable (conseil, formation, communication)",
                  "nouvelles formes d'emploi"],
        annee=2010, annee_detail="Cluster en 2009, SCIC en 2010 ; reconnu comme PTCE en 2013-2014 ; SCIC liquidée en 2025.",
        siege="Lille, locaux partagés LaGrappe (centre-ville).",
        perimetre="Métropole européenne de Lille, partenaire du programme « Lille Métropole Solidaire » ; les membres sont "
        "actifs dans tout le Nord-Pas-de-Calais.",
        description="InitiativesETcité réunissait une vingtaine d'entreprises de services de l'ESS, conseil, formation et "
        "communication, qui partageaient des bureaux à Lille. Le pôle a porté avec la Métropole européenne de Lille le "
        "programme Lille Métropole Solidaire, premier PTCE de la région. La coopérative a été liquidée en 2025."),
    "ptce20": dict(
        structure="La Courte Echelle (non identifiée dans les sources consultées)",
        filieres=["environnement (d'après le nom du pôle)"], annee=None, annee_detail=None, siege=None,
        perimetre="Déduit du seul nom du pôle : les communes de la Montagnette (Barbentane, Boulbon, Graveson, Tarascon) et, "
        "pour les Alpilles, la CC Vallée des Baux-Alpilles ; aucune source ne décrit le territoire.",
        description="Ce pôle de développement environnemental, porté par La Courte Echelle, figure dans la liste de 2014 pour "
        "les Bouches-du-Rhône. Aucune source publique consultée n'en dit davantage. Son périmètre est reconstitué d'après son "
        "nom, qui désigne les massifs des Alpilles et de la Montagnette, au nord du pays d'Arles."),
    "ptce21": dict(
        structure="Pain et Partage, association marseillaise, puis SCIC Bou'Sol",
        filieres=["filière blé-farine-pain bio et local", "boulangeries solidaires", "restauration collective", "insertion"],
        annee=2013, annee_detail="PTCE né en août 2013 ; association Pain et Partage créée en 1997.",
        siege="Marseille, boulangerie de Pain et Partage (15e arrondissement).",
        perimetre="Région Provence-Alpes-Côte d'Azur entière (six départements), territoire indiqué par la fiche du Labo de "
        "l'ESS ; le réseau national de boulangeries solidaires animé par le pôle est hors périmètre.",
        description="Bou'Sol est né en 2013 de Pain et Partage, boulangerie d'insertion des quartiers nord de Marseille. Il "
        "organise une filière régionale de pain bio et local, du blé à la farine, qui approvisionne notamment la restauration "
        "collective. Le modèle a essaimé dans un réseau national de boulangeries solidaires."),
    "ptce22": dict(
        structure="Les Ecossolies, association ; site géré par la SCIC Ecossimo (Lieux Communs)",
        filieres=["réemploi", "incubation (Labo des Ecossolies)", "espaces de travail partagés", "événementiel"],
        annee=2014, annee_detail="Projet lancé en 2007 ; Solilab ouvert en 2014.",
        siege="Solilab, 8 rue Saint-Domingue, île de Nantes.",
        perimetre="Nantes Métropole : les Ecossolies fédèrent les acteurs de l'ESS de la métropole nantaise ; périmètre "
        "fortement suggéré par les sources plutôt que délimité.",
        description="Les Ecossolies fédèrent les acteurs de l'économie sociale et solidaire de l'agglomération nantaise. Leur "
        "projet de lieu partagé, conçu avec Nantes Métropole, a abouti en 2014 à l'ouverture du Solilab sur l'île de Nantes. "
        "On y trouve des activités de réemploi, un incubateur, des espaces de travail partagés et des salles d'événements."),
    "ptce23": dict(
        structure="Maison d'Économie Solidaire (MES) du Pays de Bray, SCIC",
        filieres=["éco-activités et métiers verts", "services à la personne", "réemploi", "insertion par l'activité économique",
                  "formation"],
        annee=2004, annee_detail="SCIC créée en 2004 ; pôle structuré entre 2006 et 2008 ; lauréat de l'appel à projets "
        "interministériel de 2013 (résultats annoncés en janvier 2014).",
        siege="Lachapelle-aux-Pots (orthographe officielle ; « La Chapelle-aux-Pots » dans certaines sources).",
        perimetre="Communauté de communes du Pays de Bray (Oise, 23 communes), cœur déclaré par les sources, et "
        "Gournay-en-Bray (Seine-Maritime), commune voisine où le pôle gère une recyclerie. Les « quelques territoires "
        "environnants » de l'Oise et de la Seine-Maritime que citent les sources ne sont pas délimités : seule "
        "Gournay-en-Bray, documentée, est ajoutée. Le fichier prenait auparavant toute la CC des 4 rivières, voisine déduite "
        "qui faisait 71 % de la surface et plaçait le pôle surtout en Normandie.",
        description="La Maison d'Économie Solidaire du Pays de Bray est une SCIC qui développe des métiers verts, des services "
        "à la personne et le réemploi tout en favorisant l'insertion. Son siège est à Lachapelle-aux-Pots, dans l'Oise, et "
        "elle exploite aussi une recyclerie à Gournay-en-Bray, en Seine-Maritime. Le pôle agit ainsi de part et d'autre de la "
        "limite entre Hauts-de-France et Normandie."),
    "ptce24": dict(
        structure="Élan Coopératif Niortais (association devenue SCIC), avec la Communauté d'agglomération de Niort",
        filieres=["multi-activités, économie plurielle", "pépinière et hôtel d'entreprises ESS"],
        annee=2013, annee_detail="Première pierre de la Maison de l'ESS en mars 2013.",
        siege="Maison de l'ESS, Niort.",
        perimetre="Communauté d'agglomération du Niortais, intercommunalité partenaire ; le Labo de l'ESS évoque un territoire "
        "« Sud Deux-Sèvres » plus large, non délimité.",
        description="Le PTCE niortais est porté par Élan Coopératif Niortais, devenu SCIC, avec la communauté d'agglomération "
        "de Niort. Son point d'ancrage est la Maison de l'ESS, pépinière et hôtel d'entreprises dont la première pierre a été "
        "posée en 2013. Il défend une économie plurielle réunissant acteurs publics, privés et de l'ESS du sud des "
        "Deux-Sèvres."),
    "ptce25": dict(
        structure="Val Horizon, groupe d'entreprises solidaires (association créée en 1989)",
        filieres=["insertion par l'activité économique", "petite enfance", "restauration collective bio", "recyclerie",
                  "handicap", "services à la personne"],
        annee=2009, annee_detail="PTCE né en 2009, structuré en 2011 ; Val Horizon existe depuis 1989.",
        siege="Trévoux.",
        perimetre="Territoire déclaré « Dombes – Val de Saône – Côtière de l'Ain » (75 000 à 80 000 habitants), représenté "
        "par quatre EPCI : CC Dombes Saône Vallée (cœur, siège à Trévoux), CC de la Dombes, CC de la Côtière à Montluel et CC "
        "de Miribel et du Plateau. Ces trois dernières ne sont concernées qu'en partie : le périmètre est probablement trop large.",
        description="Domb'Innov fédère autour du groupe Val Horizon, basé à Trévoux, des structures solidaires de la Dombes, "
        "du Val de Saône et de la Côtière de l'Ain. Ses activités vont de l'insertion à la petite enfance et de la "
        "restauration collective bio à la recyclerie, avec une attention au handicap. Le pôle couvre un territoire périurbain "
        "au nord de Lyon."),
    "ptce26": dict(
        structure="Association de gestion de la Scène de musiques actuelles ardéchoise (trois associations jusqu'à leur "
        "fusion en 2018)",
        filieres=["musiques actuelles (diffusion, création, action culturelle)"],
        annee=2009, annee_detail="Projet commun en 2009 ; label SMAC en 2010 ; fusion des trois associations en 2018 ; pôle "
        "sud au Teil depuis 2019.",
        siege="Annonay (La Presqu'île), pôle nord ; pôle sud au Teil.",
        perimetre="Département de l'Ardèche entier, territoire déclaré de la scène labellisée.",
        description="La SMAC 07 est une scène de musiques actuelles à l'échelle d'un département entier. En 2009, trois "
        "associations d'Annonay, de Viviers et de Payzac ont uni leurs forces, et le label national a suivi en 2010. "
        "Fusionnées depuis 2018, elles programment des concerts, accompagnent des artistes et mènent des actions culturelles "
        "dans toute l'Ardèche."),
    "ptce27": dict(
        structure="Groupe Archer (groupe économique solidaire), avec la CRESS Rhône-Alpes",
        filieres=["renouveau productif (chaussure, relocalisation d'activités)", "insertion", "services"],
        annee=2007, annee_detail="Pôle Sud ouvert en avril 2007 dans un ancien bâtiment textile de Romans.",
        siege="2 rue Camille Claudel, Romans-sur-Isère, à côté du quartier prioritaire de la Monnaie.",
        perimetre="Valence Romans Agglo, à l'échelle du « bassin de vie Valence Romans » visé par le pôle ; le site jouxte le "
        "quartier de la Monnaie (quartier prioritaire).",
        description="Porté par le groupe Archer à Romans-sur-Isère, Pôle Sud remet au travail des personnes éloignées de "
        "l'emploi grâce au savoir-faire local de la chaussure. Il a repris la chaîne de montage de l'usine Jourdan, fermée en "
        "2007, fait appel à d'anciens ouvriers du métier et noué des partenariats avec des PME du cuir pour lancer une marque "
        "entièrement romanaise. Cette réussite a servi de modèle pour relocaliser ensuite une activité de sous-traitance "
        "automobile."),
    "ptce28": dict(
        structure="Association Culture et Coopération (cluster)",
        filieres=["culture et industries créatives (musiques actuelles, cinéma, prestations techniques)"],
        annee=2010, annee_detail="Association créée en octobre 2010.",
        siege="Saint-Étienne.",
        perimetre="Saint-Étienne Métropole (53 communes), prolongement de l'« agglomération de Saint-Étienne » de 40 communes "
        "citée par la source.",
        description="Culture & Coopération est un cluster stéphanois d'entreprises culturelles et créatives : musiques "
        "actuelles, cinéma, prestations techniques du spectacle. L'association, créée en 2010, organise la coopération de ses "
        "membres à l'échelle de l'agglomération de Saint-Étienne. Elle soutient leur développement économique tout en ancrant "
        "leur activité dans le territoire."),
    "ptce29": dict(
        structure="Alvéole (association d'insertion), devenue InnoVales",
        filieres=["éco-construction", "filière bois", "métiers verts", "alimentation durable (depuis 2021)"],
        annee=2015, annee_detail="Dans la liste de 2014 ; constitué en PTCE en 2015 à partir d'Alvéole ; ferme de La "
        "Corbattaz depuis 2021.",
        siege="Saint-Pierre-en-Faucigny (Alvéole).",
        perimetre="CC du Pays Rochois (siège, et ferme de La Corbattaz à La Roche-sur-Foron), plus, pour la vallée de l'Arve, "
        "CC Faucigny-Glières et CC Cluses-Arve et Montagnes : ces deux dernières sont déduites.",
        description="InnoVales est issu d'Alvéole, association d'insertion de Saint-Pierre-en-Faucigny, dans la vallée de "
        "l'Arve. Le pôle développe l'éco-construction, la filière bois et les métiers verts. Depuis 2021, il exploite aussi "
        "la ferme de La Corbattaz, à La Roche-sur-Foron, tournée vers l'alimentation durable."),
}


def _codes(value: object) -> list[str]:
    return [c.strip() for c in str(value or "").split(";") if c.strip()]


def _sources(value: object) -> list[str]:
    return [s for s in re.split(r"\s+;\s+|\s*;\s*(?=https?://)", str(value or "")) if s.startswith("http")]


def _check_annex(seed: Path) -> None:
    """Every annex entry of :data:`ANNEX` must appear in the seed document (whitespace aside)."""
    text = " ".join(seed.read_text(encoding="utf-8").split())
    annex = text[text.index("ANNEXE 1 :") - 2500: text.index("ANNEXE 2 :")]
    for pid, (nom, carrier, region, dep) in ANNEX.items():
        for part in (nom, region, dep) + ((carrier,) if carrier else ()):
            if " ".join(part.split()) not in annex:
                raise SystemExit(f"{pid}: {part!r} is not written so in annex 1 of {seed}")


def make_collection(csv: Path, *, seed: Path | None = None) -> dict:
    """The poles FeatureCollection (geometries built from the codes)."""
    if seed is not None and seed.is_file():
        _check_annex(seed)
    table = pd.read_csv(csv, dtype=str).fillna("")
    catalogue = load_catalogue()
    communes = load_layer("communes", catalogue=catalogue)
    epci = set(load_layer("epci", catalogue=catalogue)["code"])
    by_code = communes.set_index("code")
    features = []
    for row in table.itertuples(index=False):
        pid = row.id
        fix = CODE_FIXES.get(pid, {})
        lists = {"communes": fix.get("communes", _codes(row.perimeter_communes)),
                 "epci": fix.get("epci", _codes(row.perimeter_epci)),
                 "departements": fix.get("departements", _codes(row.perimeter_departements)),
                 "qpv": fix.get("qpv", [])}
        if isinstance(lists["communes"], str) and lists["communes"].startswith("PNR:"):
            lists["communes"] = pnr_communes(lists["communes"][4:], communes, catalogue)
        unknown = ([c for c in lists["communes"] if c not in by_code.index]
                   + [c for c in lists["epci"] if c not in epci]
                   + [c for c in lists["departements"] if c not in set(communes["dep"])])
        if unknown:
            raise SystemExit(f"{pid}: codes unknown in COG {COG}: {unknown}")
        if lists["qpv"]:
            found = qpv_outlines(lists["qpv"], catalogue=catalogue)
            if set(found["code"]) != set(lists["qpv"]):
                raise SystemExit(f"{pid}: QPV unknown to the catalogue: {sorted(set(lists['qpv']) - set(found['code']))}")
            # the communes a QPV perimeter lies in (its derived départements and régions): those
            # holding at least 1 % of its area, so that a border drawn differently adds none
            outline = shapely.union_all(found.geometry.to_numpy())
            near = communes[communes.intersects(outline)]
            held = area_m2(shapely.intersection(near.geometry.to_numpy(), outline)) / area_m2(
                [outline])[0]
            members = sorted(set(near.loc[held >= 0.01, "code"]) | set(expand_codes(lists, communes, catalogue)))
        else:
            members = expand_codes(lists, communes, catalogue)
        seat = row.seat_insee or None
        if seat is not None and seat not in by_code.index:
            raise SystemExit(f"{pid}: seat {seat} unknown in COG {COG}")
        if seat is not None and seat not in members:
            logger.warning("%s: seat %s lies outside the perimeter", pid, seat)
        nom, carrier, region, dep = ANNEX[pid]
        text = TEXTS[pid]
        props = {
            "id": pid,
            "nom": nom,
            "nom_annexe": f"{nom} ({carrier})" if carrier else nom,
            "structure_porteuse": text["structure"],
            "region_annexe": region,
            "departement_annexe": dep,
            "regions_cog": sorted(set(by_code.loc[members, "reg"])),
            "departements_cog": sorted(set(by_code.loc[members, "dep"])),
            "siege_insee": seat,
            "siege_nom": str(by_code.loc[seat, "nom"]) if seat else None,
            "note_siege": text.get("siege"),
            "communes": lists["communes"],
            "epci": lists["epci"],
            "departements": lists["departements"],
            "qpv": lists["qpv"],
            "note_perimetre": text["perimetre"],
            "confiance": CONFIANCE_FIXES.get(pid, CONFIANCE[row.confidence]),
            "sources": _sources(row.sources),
            "filieres": text["filieres"],
            "annee": text["annee"],
            "annee_detail": text.get("annee_detail"),
            "description": text["description"],
            "type_pole": TYPES[pid][0],
            "filiere_pole": TYPES[pid][1],
            "appel_2011_pole_temoin": APPELS.get(pid, (None, None, None))[0],
            "appel_2013_laureat": APPELS.get(pid, (None, None, None))[1],
            "note_appels": APPELS.get(pid, (None, None, None))[2],
            "territoire": None,
            "cog": COG,
        }
        features.append({"type": "Feature", "properties": props, "geometry": None})
    if [f["properties"]["id"] for f in features] != [f"ptce{i:02d}" for i in range(1, 30)]:
        raise SystemExit("the research table must hold ptce01…ptce29 in annex order")
    fc = build_feature_collection({"type": "FeatureCollection", "features": features}, catalogue=catalogue)
    profiles = territory_profile(read_perimeters(fc, catalogue=catalogue), catalogue=catalogue,
                                 urban_units=urban_units_from_table(_appartenance()))
    for f in fc["features"]:
        f["properties"]["territoire"] = _stored_profile(profiles.loc[f["properties"]["id"]])
    return fc


def _appartenance() -> pd.DataFrame:
    """Insee's table d'appartenance géographique (COG 2024) of the mirror."""
    base = Path(os.environ.get("PTCE_GEO_MIRROR") or REPO.parent / "shared" / "data")
    return pd.read_csv(base / "tables" / "communes_2024_appartenance.csv", dtype=str)


def _stored_profile(row: pd.Series) -> dict:
    """A territory profile as stored in the file: rounded, with its sources."""
    def num(value, digits):
        return None if value is None or pd.isna(value) else round(float(value), digits)

    def txt(value):
        return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)

    return {
        "population": None if row["population"] is None or pd.isna(row["population"]) else int(row["population"]),
        "population_source": "Insee, population municipale 2022 (somme des communes)" if row["methode"] == "communes"
        else None,
        "superficie_km2": num(row["superficie_km2"], 2),
        "densite": num(row["densite"], 1),
        "classe_densite": txt(row["classe_densite"]),
        "part_urbaine": num(row["part_urbaine"], 4),
        "profil": txt(row["profil"]),
        "unites_urbaines": "Insee, unités urbaines 2020 (table d'appartenance géographique 2024)",
        "part_population_qpv": num(row["part_population_qpv"], 4),
        "qpv_touches": None if row["qpv"] is None or pd.isna(row["qpv"]) else int(row["qpv"]),
        "qpv_liste": 2015,
        "methode": row["methode"],
    }


def pnr_communes(pnr_id: str, communes: pd.DataFrame, catalogue) -> list[str]:
    """Communes with at least :data:`PNR_RULE` of their area in a park's outline (the ``pnr`` layer).

    Raises SystemExit when a commune lies between the two bounds of :data:`PNR_GAP`: the
    outline is too coarse there to say whether the commune belongs to the park.
    """
    park = load_layer("pnr", catalogue=catalogue).set_index("code").loc[pnr_id, "geometry"]
    cand = communes[communes.intersects(park)]
    share = area_m2(shapely.intersection(cand.geometry.to_numpy(), park)) / cand["area_m2"].to_numpy()
    unclear = cand.loc[(share > PNR_GAP[0]) & (share < PNR_GAP[1]), "nom"].tolist()
    if unclear:
        raise SystemExit(f"{pnr_id}: communes neither clearly in nor out of the park's outline: {unclear}")
    return sorted(cand.loc[share >= PNR_RULE, "code"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=CSV)
    parser.add_argument("--seed", type=Path, default=SEED)
    parser.add_argument("--output", type=Path, default=REPO / "poles.geojson")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    fc = make_collection(args.csv, seed=args.seed)
    atomic_write_bytes(args.output, dumps_geojson(fc).encode("utf-8"))
    logger.info("wrote %s (%d poles)", args.output, len(fc["features"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
