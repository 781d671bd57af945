"""Every dataset the export writes: its name, label and columns (Dataset-JSON 1.1 metadata).

A column is ``(name, label, dataType, keySequence)``; string lengths are measured from the
data as it is written. Names are at most 8 characters and labels at most 40, so the same
metadata serves SAS V5 transport files.
"""

from __future__ import annotations

from dataclasses import dataclass

STRING, INTEGER, DOUBLE, DATE = "string", "integer", "double", "date"
NUMERIC = frozenset({INTEGER, DOUBLE})


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    data_type: str
    key: int | None = None


@dataclass(frozen=True)
class Domain:
    name: str
    label: str
    columns: tuple[Column, ...]

    @property
    def file(self) -> str:
        return f"{self.name.lower()}.json"

    def index(self, name: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.name == name)


def _c(name: str, label: str, data_type: str = STRING, key: int | None = None) -> Column:
    return Column(name, label, data_type, key)


def _subject(prefix: str, seq_key: int | None = None) -> tuple[Column, ...]:
    return (
        _c("STUDYID", "Study Identifier", key=1),
        _c("DOMAIN", "Domain Abbreviation"),
        _c("USUBJID", "Unique Subject Identifier", key=2),
        _c(f"{prefix}SEQ", "Sequence Number", INTEGER, seq_key),
    )


DM = Domain(
    "DM",
    "Demographics",
    (
        *_subject("DM")[:3],
        _c("SUBJID", "Subject Identifier for the Study"),
        _c("RFSTDTC", "Subject Reference Start Date/Time", DATE),
        _c("RFENDTC", "Subject Reference End Date/Time", DATE),
        _c("RFXSTDTC", "Date/Time of First Study Treatment", DATE),
        _c("RFXENDTC", "Date/Time of Last Study Treatment", DATE),
        _c("RFICDTC", "Date/Time of Informed Consent", DATE),
        _c("RFPENDTC", "Date/Time of End of Participation", DATE),
        _c("DTHDTC", "Date/Time of Death", DATE),
        _c("DTHFL", "Subject Death Flag"),
        _c("SITEID", "Study Site Identifier"),
        _c("AGE", "Age", INTEGER),
        _c("AGEU", "Age Units"),
        _c("SEX", "Sex"),
        _c("RACE", "Race"),
        _c("ETHNIC", "Ethnicity"),
        _c("ARMCD", "Planned Arm Code"),
        _c("ARM", "Description of Planned Arm"),
        _c("ACTARMCD", "Actual Arm Code"),
        _c("ACTARM", "Description of Actual Arm"),
        _c("ARMNRS", "Reason Arm and/or Actual Arm is Null"),
        _c("COUNTRY", "Country"),
    ),
)
EX = Domain(
    "EX",
    "Exposure",
    (
        *_subject("EX"),
        _c("EXSPID", "Sponsor-Defined Identifier"),
        _c("EXTRT", "Name of Treatment", key=3),
        _c("EXDOSE", "Dose", DOUBLE),
        _c("EXDOSU", "Dose Units"),
        _c("EXDOSFRM", "Dose Form"),
        _c("EXDOSFRQ", "Dosing Frequency per Interval"),
        _c("EXROUTE", "Route of Administration"),
        _c("EXADJ", "Reason for Dose Adjustment"),
        _c("EPOCH", "Epoch"),
        _c("EXSTDTC", "Start Date/Time of Treatment", DATE, 4),
        _c("EXENDTC", "End Date/Time of Treatment", DATE),
    ),
)
AE = Domain(
    "AE",
    "Adverse Events",
    (
        *_subject("AE"),
        _c("AESPID", "Sponsor-Defined Identifier"),
        _c("AETERM", "Reported Term for the Adverse Event"),
        _c("AEDECOD", "Dictionary-Derived Term", key=3),
        _c("AETOXGR", "Standard Toxicity Grade"),
        _c("AESER", "Serious Event"),
        _c("AEACN", "Action Taken with Study Treatment"),
        _c("AEREL", "Causality"),
        _c("AEOUT", "Outcome of Adverse Event"),
        _c("AESCONG", "Congenital Anomaly or Birth Defect"),
        _c("AESDISAB", "Persist or Signif Disability/Incapacity"),
        _c("AESDTH", "Results in Death"),
        _c("AESHOSP", "Requires or Prolongs Hospitalization"),
        _c("AESLIFE", "Is Life Threatening"),
        _c("AESMIE", "Other Medically Important Serious Event"),
        _c("EPOCH", "Epoch"),
        _c("AESTDTC", "Start Date/Time of Adverse Event", DATE, 4),
        _c("AEENDTC", "End Date/Time of Adverse Event", DATE),
    ),
)
DS = Domain(
    "DS",
    "Disposition",
    (
        *_subject("DS"),
        _c("DSSPID", "Sponsor-Defined Identifier"),
        _c("DSTERM", "Reported Term for the Disposition Event"),
        _c("DSDECOD", "Standardized Disposition Term", key=6),
        _c("DSCAT", "Category for Disposition Event", key=4),
        _c("DSSCAT", "Subcategory for Disposition Event", key=5),
        _c("EPOCH", "Epoch"),
        _c("DSSTDTC", "Start Date/Time of Disposition Event", DATE, 3),
    ),
)
LB = Domain(
    "LB",
    "Laboratory Test Results",
    (
        *_subject("LB"),
        _c("LBSPID", "Sponsor-Defined Identifier"),
        _c("LBTESTCD", "Lab Test or Examination Short Name", key=3),
        _c("LBTEST", "Lab Test or Examination Name"),
        _c("LBCAT", "Category for Lab Test"),
        _c("LBORRES", "Result or Finding in Original Units"),
        _c("LBORRESU", "Original Units"),
        _c("LBSTRESC", "Character Result/Finding in Std Format"),
        _c("LBSTRESN", "Numeric Result/Finding in Standard Units", DOUBLE),
        _c("LBSTRESU", "Standard Units"),
        _c("LBSPEC", "Specimen Type", key=4),
        _c("LBLOBXFL", "Last Observation Before Exposure Flag"),
        _c("EPOCH", "Epoch"),
        _c("LBDTC", "Date/Time of Specimen Collection", DATE, 5),
    ),
)
RS = Domain(
    "RS",
    "Disease Response and Clin Classification",
    (
        *_subject("RS"),
        _c("RSSPID", "Sponsor-Defined Identifier"),
        _c("RSTESTCD", "Assessment Short Name", key=3),
        _c("RSTEST", "Assessment Name"),
        _c("RSCAT", "Category for Assessment"),
        _c("RSORRES", "Result or Finding in Original Units"),
        _c("RSSTRESC", "Character Result/Finding in Std Format"),
        _c("RSEVAL", "Evaluator"),
        _c("RSDRVFL", "Derived Flag"),
        _c("VISITNUM", "Visit Number", DOUBLE, 4),
        _c("VISIT", "Visit Name"),
        _c("EPOCH", "Epoch"),
        _c("RSDTC", "Date/Time of Assessment", DATE, 5),
    ),
)
SV = Domain(
    "SV",
    "Subject Visits",
    (
        *_subject("SV")[:3],
        _c("VISITNUM", "Visit Number", DOUBLE, 3),
        _c("VISIT", "Visit Name"),
        _c("EPOCH", "Epoch"),
        _c("SVSTDTC", "Start Date/Time of Visit", DATE, 4),
        _c("SVENDTC", "End Date/Time of Visit", DATE),
    ),
)
SE = Domain(
    "SE",
    "Subject Elements",
    (
        *_subject("SE"),
        _c("ETCD", "Element Code", key=4),
        _c("ELEMENT", "Description of Element"),
        _c("TAETORD", "Planned Order of Element within Arm", INTEGER, 5),
        _c("EPOCH", "Epoch"),
        _c("SESTDTC", "Start Date/Time of Element", DATE, 3),
        _c("SEENDTC", "End Date/Time of Element", DATE),
    ),
)
TA = Domain(
    "TA",
    "Trial Arms",
    (
        _c("STUDYID", "Study Identifier", key=1),
        _c("DOMAIN", "Domain Abbreviation"),
        _c("ARMCD", "Planned Arm Code", key=2),
        _c("ARM", "Description of Planned Arm"),
        _c("TAETORD", "Planned Order of Element within Arm", INTEGER, 3),
        _c("ETCD", "Element Code"),
        _c("ELEMENT", "Description of Element"),
        _c("TABRANCH", "Branch"),
        _c("EPOCH", "Epoch"),
    ),
)
TE = Domain(
    "TE",
    "Trial Elements",
    (
        _c("STUDYID", "Study Identifier", key=1),
        _c("DOMAIN", "Domain Abbreviation"),
        _c("ETCD", "Element Code", key=2),
        _c("ELEMENT", "Description of Element"),
        _c("TESTRL", "Rule for Start of Element"),
        _c("TEENRL", "Rule for End of Element"),
    ),
)

SUBJECT_DOMAINS = (DM, EX, AE, DS, LB, RS, SV, SE)
DESIGN_DOMAINS = (TA, TE)
ALL_DOMAINS = (*SUBJECT_DOMAINS, *DESIGN_DOMAINS)
