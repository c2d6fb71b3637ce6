"""A session of the official Burki SDK against a live server; run in its own process by tests/test_burki_sdk.py.

Usage: python burki_sdk_session.py BASE_URL API_KEY FROM_NUMBER TO_NUMBER. Prints one JSON object of what the SDK
returned and raised, for the test to assert on.
"""

import json
import sys

from burki import AuthenticationError, BurkiClient, NotFoundError, RateLimitError, ValidationError

base_url, api_key, from_number, to_number = sys.argv[1:5]
report = {}

with BurkiClient(api_key=api_key, base_url=base_url) as client:
    started = client.calls.initiate(
        from_phone_number=from_number,
        to_phone_number=to_number,
        welcome_message="Hi {{name}}",
        agenda="About {{ topic | default('your order') }}",
        variables={"name": "Ann"},
    )
    report["initiate"] = started.model_dump(mode="json")
    report["list"] = [call.model_dump(mode="json") for call in client.calls.list(limit=100)]
    report["get"] = client.calls.get(call_id=started.call_id).model_dump(mode="json")
    report["get_by_sid"] = client.calls.get_by_sid(call_sid=started.call_sid).model_dump(mode="json")
    report["terminate"] = client.calls.terminate(call_sid=started.call_sid)
    report["after_terminate"] = client.calls.get(call_id=started.call_id).status

    created = client.assistants.create(name="SDK assistant", description="made by the official SDK")
    report["assistant_created"] = created.model_dump(mode="json")
    report["assistant_listed"] = [a.id for a in client.assistants.list(active_only=True)]
    report["assistant_updated"] = client.assistants.update(created.id, description="changed").description
    report["assistant_deleted"] = client.assistants.delete(created.id)
    report["organization"] = client.assistants.get_organization_info()

    errors = {}
    try:
        client.calls.get(call_id=987654)
    except NotFoundError as exc:
        errors["not_found"] = str(exc)
    try:
        client.calls.initiate(from_phone_number=from_number, to_phone_number="12345")
    except ValidationError as exc:
        errors["validation"] = str(exc)
    try:
        client.calls.initiate(from_phone_number=from_number, to_phone_number=to_number, welcome_message="{{missing}}")
    except ValidationError as exc:
        errors["missing_variable"] = str(exc)
    report["errors"] = errors

with BurkiClient(api_key="burki_not-a-key", base_url=base_url) as stranger:
    try:
        stranger.calls.list()
    except AuthenticationError as exc:
        report["errors"]["authentication"] = str(exc)

# Last: fill the organization's live-call limit (set to 1 by the test) and read the SDK's rate-limit error.
with BurkiClient(api_key=api_key, base_url=base_url) as client:
    client.calls.initiate(from_phone_number=from_number, to_phone_number=to_number)
    try:
        client.calls.initiate(from_phone_number=from_number, to_phone_number=to_number)
    except RateLimitError as exc:
        report["errors"]["rate_limit"] = {"message": str(exc), "retry_after": exc.retry_after}

print(json.dumps(report))
