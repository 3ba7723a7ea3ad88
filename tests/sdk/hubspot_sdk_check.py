"""HubSpot's official Python SDK (hubspot-api-client) against the sandbox, unchanged.

The SDK is pointed at the sandbox only through its own `host` setting; every call below is
the SDK's public API, and every answer is parsed by the SDK's own models (which refuse a
body missing a required field or holding an unknown enum value). Each check asserts on ids,
property values, association type ids or counts, so a sandbox that answered the wrong thing
would fail it.

usage: HUBSPOT_SANDBOX_URL=http://127.0.0.1:PORT HUBSPOT_TOKEN=... python hubspot_sdk_check.py
Run by infra/scripts/sdk-check.sh (make sdk), which starts a sandbox for it.
"""

import os
import sys
import time
import traceback
import urllib.error
import urllib.request

from urllib3.util.retry import Retry
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    AssociationSpec as V4AssociationSpec,
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicAssociationMultiArchive,
    PublicAssociationMultiPost,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
    PublicObjectId as V4PublicObjectId,
)
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId as CompanyBatchIds,
    BatchReadInputSimplePublicObjectId as CompanyBatchRead,
    Filter as CompanyFilter,
    FilterGroup as CompanyFilterGroup,
    PublicObjectSearchRequest as CompanySearch,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId as CompanyId,
    SimplePublicObjectInput as CompanyInput,
    SimplePublicObjectInputForCreate as CompanyCreate,
)
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from hubspot.crm.contacts import (
    AssociationSpec as ContactAssociationSpec,
    BatchReadInputSimplePublicObjectId as ContactBatchRead,
    Filter as ContactFilter,
    FilterGroup as ContactFilterGroup,
    PublicAssociationsForObject,
    PublicMergeInput,
    PublicObjectId as ContactPublicObjectId,
    PublicObjectSearchRequest as ContactSearch,
    SimplePublicObjectId as ContactId,
    SimplePublicObjectInput as ContactInput,
    SimplePublicObjectInputForCreate as ContactCreate,
)
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.objects.calls import (
    AssociationSpec as CallAssociationSpec,
    BatchInputSimplePublicObjectBatchInputUpsert as CallUpsertBatch,
    PublicAssociationsForObject as CallAssociations,
    PublicObjectId as CallObjectId,
    SimplePublicObjectBatchInputUpsert as CallUpsert,
    SimplePublicObjectInputForCreate as CallCreate,
)
from hubspot.crm.objects.calls.exceptions import ApiException as CallsApiException
from hubspot.crm.properties import PropertyCreate

BASE_URL = os.environ.get("HUBSPOT_SANDBOX_URL", "http://127.0.0.1:3001").rstrip("/")
TOKEN = os.environ.get("HUBSPOT_TOKEN", "sandbox-app-token")

# HubSpot-defined association types (v4): contact -> company unlabeled / primary, and back.
CONTACT_TO_COMPANY = 279
CONTACT_TO_COMPANY_PRIMARY = 1
COMPANY_TO_CONTACT = 280
COMPANY_TO_CONTACT_PRIMARY = 2

# Distinct per run, so a re-run against a sandbox that was not reset cannot pass on old data.
RUN = f"{int(time.time() * 1000)}-{os.getpid()}"
UNIQUE_PROPERTY = "sdk_check_key"

# HubSpot's advice for its SDKs: retry 429s, honouring Retry-After (the sandbox keeps HubSpot's
# rate limits: 100 requests per 10 s, 5 searches per second). Nothing else is retried.
RETRY_429 = Retry(
    total=5, status_forcelist=[429], allowed_methods=None, backoff_factor=0.5, respect_retry_after_header=True
)
client = HubSpot(access_token=TOKEN, host=BASE_URL, retry=RETRY_429)
state = {}
CHECKS = []


def check(function):
    CHECKS.append(function)
    return function


def expect_status(call, status, exception_types):
    """Runs `call`, which must raise the SDK's ApiException with `status`."""
    try:
        call()
    except exception_types as error:
        assert error.status == status, f"expected HTTP {status}, got {error.status}: {error.body}"
        return error
    raise AssertionError(f"expected HTTP {status}, the call succeeded")


def search_until(search, predicate, timeout=5.0):
    """Searches until `predicate(answer)` holds: search is eventually consistent in HubSpot."""
    deadline = time.monotonic() + timeout
    while True:
        answer = search()
        if predicate(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


# ----- plain HTTP ---------------------------------------------------------------------------


@check
def unknown_route_without_token_is_401():
    request = urllib.request.Request(f"{BASE_URL}/crm/v3/no-such-route/{RUN}")
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 401, f"expected 401 for an unauthenticated unknown route, got {error.code}"
        return
    raise AssertionError("an unknown route without a token answered 2xx")


@check
def known_route_with_a_wrong_token_is_401():
    wrong = HubSpot(access_token=f"not-{TOKEN}", host=BASE_URL)
    expect_status(lambda: wrong.crm.companies.basic_api.get_page(limit=1), 401, CompaniesApiException)


# ----- companies ----------------------------------------------------------------------------


@check
def company_create():
    name = f"SDK Acme {RUN}"
    created = client.crm.companies.basic_api.create(
        simple_public_object_input_for_create=CompanyCreate(
            properties={"name": name, "domain": f"acme-{RUN}.example", "city": "Lisbon"}
        )
    )
    assert created.id and created.id.isdigit(), created.id
    assert created.properties["name"] == name, created.properties
    assert created.properties["hs_object_id"] == created.id, created.properties
    assert created.created_at is not None and created.updated_at is not None
    assert created.archived is False
    state["company"] = created.id
    state["company_name"] = name


@check
def company_get_by_id_with_properties():
    company_id = state["company"]
    got = client.crm.companies.basic_api.get_by_id(company_id, properties=["name", "city"])
    assert got.id == company_id, (got.id, company_id)
    props = got.properties
    assert props["name"] == state["company_name"], props
    assert props["city"] == "Lisbon", props
    for default in ("hs_object_id", "createdate", "hs_lastmodifieddate"):
        assert props.get(default), f"{default} missing from {props}"
    assert props["hs_object_id"] == company_id, props
    assert "domain" not in props, f"a property that was not asked for came back: {props}"
    # Without `properties`, HubSpot answers its default set.
    plain = client.crm.companies.basic_api.get_by_id(company_id)
    assert plain.properties["domain"] == f"acme-{RUN}.example", plain.properties
    assert "city" not in plain.properties, plain.properties
    # `archived=False` as the SDK sends it (Python's "False").
    active = client.crm.companies.basic_api.get_by_id(company_id, archived=False)
    assert active.id == company_id


@check
def company_get_unknown_id_is_404():
    error = expect_status(
        lambda: client.crm.companies.basic_api.get_by_id("999999999999"), 404, CompaniesApiException
    )
    assert "OBJECT_NOT_FOUND" in error.body, error.body


@check
def company_update():
    company_id = state["company"]
    updated = client.crm.companies.basic_api.update(
        company_id, simple_public_object_input=CompanyInput(properties={"city": "Porto"})
    )
    assert updated.id == company_id
    assert updated.properties["city"] == "Porto", updated.properties
    got = client.crm.companies.basic_api.get_by_id(company_id, properties=["city"])
    assert got.properties["city"] == "Porto", got.properties


@check
def company_unique_property_through_the_properties_api():
    created = client.crm.properties.core_api.create(
        "companies",
        property_create=PropertyCreate(
            name=UNIQUE_PROPERTY,
            label="SDK check key",
            type="string",
            field_type="text",
            group_name="companyinformation",
            has_unique_value=True,
        ),
    )
    assert created.name == UNIQUE_PROPERTY, created
    assert created.has_unique_value is True, created
    read = client.crm.properties.core_api.get_by_name("companies", UNIQUE_PROPERTY)
    assert read.type == "string" and read.field_type == "text", read


@check
def company_batch_create():
    names = [f"SDK Batch {i} {RUN}" for i in range(3)]
    answer = client.crm.companies.batch_api.create(
        batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[SimplePublicObjectBatchInputForCreate(properties={"name": name}) for name in names]
        )
    )
    assert answer.status == "COMPLETE", answer.status
    assert len(answer.results) == 3, answer.results
    assert sorted(r.properties["name"] for r in answer.results) == sorted(names)
    ids = [r.id for r in answer.results]
    assert len(set(ids)) == 3 and all(i.isdigit() for i in ids), ids
    state["batch_companies"] = ids


@check
def company_batch_upsert_creates_then_updates():
    keys = [f"key-a-{RUN}", f"key-b-{RUN}"]

    def upsert(city):
        return client.crm.companies.batch_api.upsert(
            batch_input_simple_public_object_batch_input_upsert=BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    SimplePublicObjectBatchInputUpsert(
                        id=key,
                        id_property=UNIQUE_PROPERTY,
                        properties={"name": f"Upsert {key}", "city": city},
                    )
                    for key in keys
                ]
            )
        )

    first = upsert("Braga")
    assert first.status == "COMPLETE"
    assert len(first.results) == 2, first.results
    assert all(r.new is True for r in first.results), [r.new for r in first.results]
    by_key = {r.properties[UNIQUE_PROPERTY]: r for r in first.results}
    assert set(by_key) == set(keys), by_key.keys()
    second = upsert("Faro")
    assert len(second.results) == 2
    assert all(r.new is False for r in second.results), [r.new for r in second.results]
    assert {r.id for r in second.results} == {r.id for r in first.results}
    assert all(r.properties["city"] == "Faro" for r in second.results)
    state["upserted_companies"] = [by_key[key].id for key in keys]


@check
def company_batch_read():
    ids = state["upserted_companies"] + [state["company"]]
    answer = client.crm.companies.batch_api.read(
        batch_read_input_simple_public_object_id=CompanyBatchRead(
            inputs=[CompanyId(id=i) for i in ids], properties=["city", UNIQUE_PROPERTY]
        )
    )
    assert answer.status == "COMPLETE"
    assert sorted(r.id for r in answer.results) == sorted(ids), answer.results
    cities = {r.id: r.properties.get("city") for r in answer.results}
    assert cities[state["company"]] == "Porto", cities
    assert cities[state["upserted_companies"][0]] == "Faro", cities
    # Read by the unique property instead of the id.
    by_key = client.crm.companies.batch_api.read(
        batch_read_input_simple_public_object_id=CompanyBatchRead(
            inputs=[CompanyId(id=f"key-b-{RUN}")], properties=["name"], id_property=UNIQUE_PROPERTY
        )
    )
    assert [r.id for r in by_key.results] == [state["upserted_companies"][1]], by_key.results


@check
def company_search():
    name = state["company_name"]
    request = CompanySearch(
        filter_groups=[
            CompanyFilterGroup(filters=[CompanyFilter(property_name="name", operator="EQ", value=name)])
        ],
        properties=["name", "city"],
        limit=10,
    )
    answer = search_until(lambda: client.crm.companies.search_api.do_search(public_object_search_request=request),
                          lambda a: a.total >= 1)
    assert answer.total == 1, answer
    assert [r.id for r in answer.results] == [state["company"]], answer.results
    assert answer.results[0].properties["city"] == "Porto", answer.results[0].properties
    # A filter on the batch's run tag, paged by 2.
    tagged = CompanySearch(
        filter_groups=[
            CompanyFilterGroup(
                filters=[CompanyFilter(property_name="name", operator="CONTAINS_TOKEN", value=f"*{RUN}")]
            )
        ],
        sorts=["hs_object_id"],
        properties=["name"],
        limit=2,
    )
    page = client.crm.companies.search_api.do_search(public_object_search_request=tagged)
    assert page.total == 6, f"expected the 6 companies of this run, got {page.total}"
    assert len(page.results) == 2
    assert page.paging is not None and page.paging.next.after, page.paging


@check
def company_get_page():
    page = client.crm.companies.basic_api.get_page(limit=2, properties=["name"])
    assert len(page.results) == 2, page.results
    assert page.paging is not None and page.paging.next.after
    after = client.crm.companies.basic_api.get_page(limit=2, after=page.paging.next.after)
    assert not {r.id for r in after.results} & {r.id for r in page.results}


@check
def company_archive_and_batch_archive():
    victim = state["batch_companies"][0]
    client.crm.companies.basic_api.archive(victim)
    expect_status(lambda: client.crm.companies.basic_api.get_by_id(victim), 404, CompaniesApiException)
    archived = client.crm.companies.basic_api.get_by_id(victim, archived=True)
    assert archived.archived is True and archived.archived_at is not None, archived
    rest = state["batch_companies"][1:]
    client.crm.companies.batch_api.archive(
        batch_input_simple_public_object_id=CompanyBatchIds(inputs=[CompanyId(id=i) for i in rest])
    )
    answer = client.crm.companies.batch_api.read(
        batch_read_input_simple_public_object_id=CompanyBatchRead(inputs=[CompanyId(id=i) for i in rest], properties=[])
    )
    # Both are gone from active reads: a 207 with one error each, no results.
    assert answer.results == [], answer.results
    assert answer.num_errors == 2, answer


# ----- contacts -----------------------------------------------------------------------------


@check
def contact_create():
    email = f"ada-{RUN}@sdk.example"
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=ContactCreate(
            properties={"email": email, "firstname": "Ada", "lastname": "Lovelace"}
        )
    )
    assert created.id and created.id.isdigit(), created.id
    assert created.properties["email"] == email, created.properties
    assert created.properties["hs_object_id"] == created.id
    state["contact"] = created.id
    state["contact_email"] = email
    # A second contact with the same email is refused, as HubSpot refuses it.
    error = expect_status(
        lambda: client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=ContactCreate(properties={"email": email})
        ),
        409,
        ContactsApiException,
    )
    assert created.id in error.body, error.body


@check
def contact_get():
    got = client.crm.contacts.basic_api.get_by_id(state["contact"])
    assert got.id == state["contact"]
    for name, value in (("email", state["contact_email"]), ("firstname", "Ada"), ("lastname", "Lovelace")):
        assert got.properties.get(name) == value, got.properties
    for default in ("hs_object_id", "createdate", "lastmodifieddate"):
        assert got.properties.get(default), f"{default} missing from {got.properties}"
    by_email = client.crm.contacts.basic_api.get_by_id(state["contact_email"], id_property="email")
    assert by_email.id == state["contact"], by_email.id


@check
def contact_update():
    updated = client.crm.contacts.basic_api.update(
        state["contact"], simple_public_object_input=ContactInput(properties={"jobtitle": "Analyst"})
    )
    assert updated.properties["jobtitle"] == "Analyst", updated.properties
    got = client.crm.contacts.basic_api.get_by_id(state["contact"], properties=["jobtitle", "firstname"])
    assert got.properties["jobtitle"] == "Analyst" and got.properties["firstname"] == "Ada", got.properties


@check
def contact_create_with_an_association():
    email = f"grace-{RUN}@sdk.example"
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=ContactCreate(
            properties={"email": email, "firstname": "Grace"},
            associations=[
                PublicAssociationsForObject(
                    to=ContactPublicObjectId(id=state["company"]),
                    types=[
                        ContactAssociationSpec(
                            association_category="HUBSPOT_DEFINED", association_type_id=CONTACT_TO_COMPANY
                        )
                    ],
                )
            ],
        )
    )
    state["contact2"] = created.id
    state["contact2_email"] = email
    page = client.crm.associations.v4.basic_api.get_page("contacts", created.id, "companies")
    assert [r.to_object_id for r in page.results] == [state["company"]], page.results
    assert [t.type_id for t in page.results[0].association_types] == [CONTACT_TO_COMPANY]
    # Read back with the record, as `associations=companies` asks.
    got = client.crm.contacts.basic_api.get_by_id(created.id, associations=["companies"])
    assert got.associations is not None and "companies" in got.associations, got.associations
    assert [a.id for a in got.associations["companies"].results] == [state["company"]], got.associations


@check
def contact_batch_read():
    ids = [state["contact"], state["contact2"]]
    answer = client.crm.contacts.batch_api.read(
        batch_read_input_simple_public_object_id=ContactBatchRead(
            inputs=[ContactId(id=i) for i in ids + ["999999999999"]], properties=["email", "firstname"]
        )
    )
    assert sorted(r.id for r in answer.results) == sorted(ids), answer.results
    emails = {r.id: r.properties["email"] for r in answer.results}
    assert emails == {state["contact"]: state["contact_email"], state["contact2"]: state["contact2_email"]}
    assert answer.num_errors == 1, answer
    assert answer.errors[0].category == "OBJECT_NOT_FOUND", answer.errors
    by_email = client.crm.contacts.batch_api.read(
        batch_read_input_simple_public_object_id=ContactBatchRead(
            inputs=[ContactId(id=state["contact2_email"])], properties=["firstname"], id_property="email"
        )
    )
    assert [r.id for r in by_email.results] == [state["contact2"]], by_email.results


@check
def contact_search_by_email():
    email = state["contact_email"]
    request = ContactSearch(
        filter_groups=[
            ContactFilterGroup(filters=[ContactFilter(property_name="email", operator="EQ", value=email)])
        ],
        properties=["email", "jobtitle"],
        limit=5,
    )
    answer = search_until(lambda: client.crm.contacts.search_api.do_search(public_object_search_request=request),
                          lambda a: a.total >= 1)
    assert answer.total == 1, answer
    assert answer.results[0].id == state["contact"]
    assert answer.results[0].properties["jobtitle"] == "Analyst", answer.results[0].properties
    nobody = ContactSearch(
        filter_groups=[
            ContactFilterGroup(
                filters=[ContactFilter(property_name="email", operator="EQ", value=f"nobody-{RUN}@sdk.example")]
            )
        ]
    )
    assert client.crm.contacts.search_api.do_search(public_object_search_request=nobody).total == 0


# ----- associations v4 ----------------------------------------------------------------------


@check
def association_create_default():
    contact, company = state["contact"], state["company"]
    answer = client.crm.associations.v4.basic_api.create_default("contacts", contact, "companies", company)
    assert answer.status == "COMPLETE"
    pairs = {(r._from.id, r.to.id, r.association_spec.association_type_id) for r in answer.results}
    assert pairs == {(contact, company, CONTACT_TO_COMPANY), (company, contact, COMPANY_TO_CONTACT)}, pairs


@check
def association_create_primary_with_types():
    contact, company = state["contact"], state["company"]
    answer = client.crm.associations.v4.basic_api.create(
        "contacts",
        contact,
        "companies",
        company,
        association_spec=[
            V4AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=CONTACT_TO_COMPANY_PRIMARY)
        ],
    )
    assert answer.from_object_id == contact and answer.to_object_id == company, answer
    assert answer.from_object_type_id == "0-1" and answer.to_object_type_id == "0-2", answer
    assert answer.labels == ["Primary"], answer.labels


@check
def association_get_page():
    contact, company = state["contact"], state["company"]
    page = client.crm.associations.v4.basic_api.get_page("contacts", contact, "companies", limit=10)
    assert [r.to_object_id for r in page.results] == [company], page.results
    types = sorted(t.type_id for t in page.results[0].association_types)
    assert types == [CONTACT_TO_COMPANY_PRIMARY, CONTACT_TO_COMPANY], types
    labels = {t.type_id: t.label for t in page.results[0].association_types}
    assert labels[CONTACT_TO_COMPANY_PRIMARY] == "Primary", labels
    back = client.crm.associations.v4.basic_api.get_page("companies", company, "contacts")
    to_ids = sorted(r.to_object_id for r in back.results)
    assert to_ids == sorted([contact, state["contact2"]]), to_ids
    inverse = {r.to_object_id: sorted(t.type_id for t in r.association_types) for r in back.results}
    assert inverse[contact] == [COMPANY_TO_CONTACT_PRIMARY, COMPANY_TO_CONTACT], inverse
    assert inverse[state["contact2"]] == [COMPANY_TO_CONTACT], inverse


@check
def association_get_page_pages():
    company = state["company"]
    first = client.crm.associations.v4.basic_api.get_page("companies", company, "contacts", limit=1)
    assert len(first.results) == 1, first.results
    assert first.paging is not None and first.paging.next is not None, first.paging
    second = client.crm.associations.v4.basic_api.get_page(
        "companies", company, "contacts", limit=1, after=first.paging.next.after
    )
    assert len(second.results) == 1, second.results
    assert second.results[0].to_object_id != first.results[0].to_object_id
    assert second.paging is None or second.paging.next is None, second.paging


@check
def association_batch_read():
    ids = [state["contact"], state["contact2"]]
    answer = client.crm.associations.v4.batch_api.get_page(
        "contacts",
        "companies",
        batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids]
        ),
    )
    assert answer.status == "COMPLETE"
    found = {r._from.id: [(t.to_object_id, sorted(s.type_id for s in t.association_types)) for t in r.to]
             for r in answer.results}
    assert found == {
        state["contact"]: [(state["company"], [CONTACT_TO_COMPANY_PRIMARY, CONTACT_TO_COMPANY])],
        state["contact2"]: [(state["company"], [CONTACT_TO_COMPANY])],
    }, found


@check
def association_batch_create_and_default():
    companies = state["upserted_companies"]
    created = client.crm.associations.v4.batch_api.create(
        "contacts",
        "companies",
        batch_input_public_association_multi_post=BatchInputPublicAssociationMultiPost(
            inputs=[
                PublicAssociationMultiPost(
                    _from=V4PublicObjectId(id=state["contact2"]),
                    to=V4PublicObjectId(id=companies[0]),
                    types=[V4AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=CONTACT_TO_COMPANY)],
                )
            ]
        ),
    )
    assert [(r.from_object_id, r.to_object_id) for r in created.results] == [(state["contact2"], companies[0])]
    defaults = client.crm.associations.v4.batch_api.create_default(
        "contacts",
        "companies",
        batch_input_public_default_association_multi_post=BatchInputPublicDefaultAssociationMultiPost(
            inputs=[
                PublicDefaultAssociationMultiPost(
                    _from=V4PublicObjectId(id=state["contact2"]), to=V4PublicObjectId(id=companies[1])
                )
            ]
        ),
    )
    types = sorted(r.association_spec.association_type_id for r in defaults.results)
    assert types == [CONTACT_TO_COMPANY, COMPANY_TO_CONTACT], types
    page = client.crm.associations.v4.basic_api.get_page("contacts", state["contact2"], "companies")
    assert sorted(r.to_object_id for r in page.results) == sorted([state["company"]] + companies), page.results


@check
def association_archive_and_batch_archive():
    contact, company = state["contact"], state["company"]
    client.crm.associations.v4.basic_api.archive("contacts", contact, "companies", company)
    page = client.crm.associations.v4.basic_api.get_page("contacts", contact, "companies")
    assert page.results == [], page.results
    back = client.crm.associations.v4.basic_api.get_page("companies", company, "contacts")
    assert [r.to_object_id for r in back.results] == [state["contact2"]], back.results
    client.crm.associations.v4.batch_api.archive(
        "contacts",
        "companies",
        batch_input_public_association_multi_archive=BatchInputPublicAssociationMultiArchive(
            inputs=[
                PublicAssociationMultiArchive(
                    _from=V4PublicObjectId(id=state["contact2"]),
                    to=[V4PublicObjectId(id=i) for i in state["upserted_companies"]],
                )
            ]
        ),
    )
    left = client.crm.associations.v4.basic_api.get_page("contacts", state["contact2"], "companies")
    assert [r.to_object_id for r in left.results] == [company], left.results


@check
def association_with_an_unknown_type_is_400():
    expect_status(
        lambda: client.crm.associations.v4.basic_api.create(
            "companies",
            state["company"],
            "contacts",
            state["contact"],
            association_spec=[
                V4AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=CONTACT_TO_COMPANY)
            ],
        ),
        400,
        AssociationsApiException,
    )


# ----- merge and archive of contacts ---------------------------------------------------------


@check
def contact_merge():
    primary, loser = state["contact"], state["contact2"]
    merged = client.crm.contacts.basic_api.merge(
        public_merge_input=PublicMergeInput(primary_object_id=primary, object_id_to_merge=loser)
    )
    assert merged.id == primary, merged.id
    assert merged.properties["email"] == state["contact_email"], merged.properties
    # The survivor lists the merged-away id; a value only the loser had moves to it.
    assert merged.properties.get("hs_merged_object_ids") == loser, merged.properties
    got = client.crm.contacts.basic_api.get_by_id(primary, properties=["hs_merged_object_ids", "firstname"])
    assert got.properties.get("hs_merged_object_ids") == loser, got.properties
    assert got.properties["firstname"] == "Ada", got.properties
    expect_status(lambda: client.crm.contacts.basic_api.get_by_id(loser), 404, ContactsApiException)


@check
def contact_archive():
    contact = state["contact"]
    client.crm.contacts.basic_api.archive(contact)
    expect_status(lambda: client.crm.contacts.basic_api.get_by_id(contact), 404, ContactsApiException)
    archived = client.crm.contacts.basic_api.get_by_id(contact, archived=True)
    assert archived.id == contact and archived.archived is True, archived
    # Archiving twice is still a 204, as in HubSpot.
    client.crm.contacts.basic_api.archive(contact)


# ----- calls (engagements WARP logs on contacts) --------------------------------------------

CALL_TO_CONTACT = 194
CALL_KEY = "sdk_check_call_id"


def call_properties(title, status="COMPLETED"):
    return {
        "hs_timestamp": "2026-12-04T10:00:00Z",
        "hs_call_title": title,
        "hs_call_direction": "OUTBOUND",
        "hs_call_status": status,
        "hs_call_duration": "65000",
        "hs_call_to_number": "+13035551234",
    }


@check
def call_create_with_an_association_and_read_back():
    contact = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=ContactCreate(
            properties={"email": f"called-{RUN}@sdk.example", "phone": "(303) 555-1234"}
        )
    ).id
    created = client.crm.objects.calls.basic_api.create(
        simple_public_object_input_for_create=CallCreate(
            properties=call_properties("Call to +13035551234"),
            associations=[
                CallAssociations(
                    to=CallObjectId(id=contact),
                    types=[CallAssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=CALL_TO_CONTACT)],
                )
            ],
        )
    )
    assert created.id and created.id.isdigit(), created.id
    read = client.crm.objects.calls.basic_api.get_by_id(
        created.id, properties=["hs_call_duration", "hs_call_status", "hs_call_to_number"], associations=["contacts"]
    )
    assert read.properties["hs_call_duration"] == "65000", read.properties
    assert read.properties["hs_call_status"] == "COMPLETED", read.properties
    linked = [result.id for result in read.associations["contacts"].results]
    assert linked == [contact], linked
    # The contact is found by the number exactly as it was typed, as HubSpot matches it.
    found = search_until(
        lambda: client.crm.contacts.search_api.do_search(
            public_object_search_request=ContactSearch(
                filter_groups=[ContactFilterGroup(filters=[ContactFilter(property_name="phone", operator="IN", values=["+13035551234", "(303) 555-1234"])])],
                properties=["phone"],
            )
        ),
        lambda answer: any(result.id == contact for result in answer.results),
    )
    assert [result.id for result in found.results if result.id == contact] == [contact], found


@check
def call_status_outside_hubspots_options_is_400():
    error = expect_status(
        lambda: client.crm.objects.calls.basic_api.create(
            simple_public_object_input_for_create=CallCreate(properties=call_properties("Bad", status="DONE"))
        ),
        400,
        CallsApiException,
    )
    assert "hs_call_status" in error.body and "INVALID_OPTION" in error.body, error.body


@check
def call_batch_upsert_by_a_unique_property_never_doubles():
    client.crm.properties.core_api.create(
        "calls",
        property_create=PropertyCreate(
            name=CALL_KEY, label="SDK call key", type="string", field_type="text",
            group_name="engagement", has_unique_value=True,
        ),
    )
    key = f"call-{RUN}"
    batch = CallUpsertBatch(
        inputs=[CallUpsert(id_property=CALL_KEY, id=key, properties=call_properties("Upserted"))]
    )
    first = client.crm.objects.calls.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=batch)
    again = client.crm.objects.calls.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=batch)
    assert len(first.results) == 1 and len(again.results) == 1, (first, again)
    assert first.results[0].new is True and again.results[0].new is False, (first, again)
    assert first.results[0].id == again.results[0].id, (first, again)


def main():
    passed, failed = 0, []
    print(f"hubspot-api-client against {BASE_URL} (run {RUN})")
    for function in CHECKS:
        try:
            function()
        except Exception as error:  # noqa: BLE001 - every failure is reported, none hidden
            failed.append(function.__name__)
            print(f"FAIL {function.__name__}: {type(error).__name__}: {error}")
            traceback.print_exc(limit=3)
        else:
            passed += 1
            print(f"ok   {function.__name__}")
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
