"""AdminData: who signed (one User per registered key), where (Locations), and what a
signature means (SignatureDefs, 21 CFR Part 11)."""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]  # no stubs; pyproject lists none

from ledger.events import ALL_SITES
from ledger.registry import KeyRegistry, RegisteredKey
from projections.exports.odm.dialect import Dialect
from projections.exports.odm.metadata import MDV_OID, STUDY_OID

SPONSOR_LOCATION = "LOC.SPONSOR"
MEANINGS: dict[str, str] = {
    "authorship": "Authorship: I recorded these data and they are accurate and complete.",
    "review": "Review: I reviewed these data.",
    "approval": "Approval: I approve these data.",
    "responsibility": "Responsibility: I take responsibility for these data.",
}
LEGAL_REASON = (
    "Electronic signature under 21 CFR Part 11 (11.50 signature manifestations, 11.70 "
    "signature/record linking, 11.100, 11.200): an Ed25519 signature by the signer's "
    "registered key over the ledger commit that holds the data"
)
USER_TYPES_1_3 = {"sponsor": "Sponsor", "investigator": "Investigator"}
USER_TYPES_2_0 = {**USER_TYPES_1_3, "monitor": "Monitor"}


def user_oid(key_id: str) -> str:
    return f"USR.{key_id}"


def location_oid(site: str) -> str:
    return SPONSOR_LOCATION if site in (ALL_SITES, "") else f"LOC.SITE.{site}"


def signature_oid(meaning: str) -> str:
    return f"SD.{meaning.upper()}"


def admin_element(d: Dialect, registry: KeyRegistry) -> etree._Element:
    users = [_user(d, key, registry) for key in registry.keys.values()]
    effective = registry.trial.effective_date.isoformat() if registry.trial else "2002-01-01"
    locations = [_location(d, SPONSOR_LOCATION, "Sponsor", "Sponsor", effective)]
    locations += [
        _location(d, location_oid(s.site), s.label, "Site", s.effective_date.isoformat())
        for s in registry.sites.values()
    ]
    definitions = [
        d.el(
            "SignatureDef",
            {"OID": signature_oid(meaning), "Methodology": "Electronic"},
            d.el("Meaning", text=text),
            d.el("LegalReason", text=LEGAL_REASON),
        )
        for meaning, text in MEANINGS.items()
    ]
    organizations = _organizations(d, registry) if d.v2 else []
    return d.el(
        "AdminData", {"StudyOID": STUDY_OID}, *users, *organizations, *locations, *definitions
    )


def _held(key: RegisteredKey) -> str:
    held = f"registered at position {key.registered_at}"
    if key.retired_at is not None:
        held += f", {key.retired_by} at position {key.retired_at}"
    return held


def _user(d: Dialect, key: RegisteredKey, registry: KeyRegistry) -> etree._Element:
    person = key.key
    site = "all sites" if person.site == ALL_SITES else f"site {person.site}"
    if d.v2:
        return d.el(
            "User",
            {
                "OID": user_oid(person.key_id),
                "UserType": USER_TYPES_2_0.get(person.role, "Other"),
                "OrganizationOID": _organization_oid(person.site),
                "LocationOID": location_oid(person.site),
            },
            d.el("UserName", text=person.key_id),
            d.el("Suffix", text=f"{person.role}, {site}; {_held(key)}"),
            d.el("FullName", text=person.printed_name),
        )
    label = registry.sites[person.site].label if person.site in registry.sites else "Sponsor"
    return d.el(
        "User",
        {"OID": user_oid(person.key_id), "UserType": USER_TYPES_1_3.get(person.role, "Other")},
        d.el("LoginName", text=person.key_id),
        d.el("DisplayName", text=f"{person.printed_name} ({person.role}, {site}; {_held(key)})"),
        d.el("FullName", text=person.printed_name),
        d.el("Organization", text=f"{label} ({person.role})"),
        d.el("LocationRef", {"LocationOID": location_oid(person.site)}),
    )


def _organization_oid(site: str) -> str:
    return location_oid(site).replace("LOC.", "ORG.", 1)


def _organizations(d: Dialect, registry: KeyRegistry) -> list[etree._Element]:
    sponsor = d.el(
        "Organization",
        {
            "OID": "ORG.SPONSOR",
            "Name": "Sponsor",
            "Type": "Sponsor",
            "LocationOID": SPONSOR_LOCATION,
        },
    )
    return [sponsor] + [
        d.el(
            "Organization",
            {
                "OID": _organization_oid(s.site),
                "Name": s.label,
                "Type": "Site",
                "LocationOID": location_oid(s.site),
            },
        )
        for s in registry.sites.values()
    ]


def _location(d: Dialect, oid: str, name: str, kind: str, effective: str) -> etree._Element:
    ref = d.el(
        "MetaDataVersionRef",
        {"StudyOID": STUDY_OID, "MetaDataVersionOID": MDV_OID, "EffectiveDate": effective},
    )
    if d.v2:
        organization = oid.replace("LOC.", "ORG.", 1)
        attrib = {"OID": oid, "Name": name, "Role": kind, "OrganizationOID": organization}
        return d.el("Location", attrib, ref)
    return d.el("Location", {"OID": oid, "Name": name, "LocationType": kind}, ref)
