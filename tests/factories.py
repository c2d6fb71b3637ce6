from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from assistants.models import Assistant, ConversationFlow, PhoneNumber
from burki.models import ApiKey, Membership, Organization, api_key_generate, api_key_hash
from calls.models import Call
from telephony.models import TelephonyAccount

SIMPLE_FLOW = {
    "nodes": [{"id": "greet", "type": "start", "prompt": "Hello"}, {"id": "ask", "type": "question"}],
    "edges": [{"from": "greet", "to": "ask"}],
}


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.OWNER


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """`ApiKeyFactory()` has the raw key on `.raw_key` (it is stored only as a hash)."""

    class Meta:
        model = ApiKey

    organization = factory.SubFactory(OrganizationFactory)
    name = "test key"

    @classmethod
    def _create(cls, model_class: type[ApiKey], *args: Any, **kwargs: Any) -> ApiKey:
        raw = api_key_generate()
        key = model_class.objects.create(*args, prefix=raw[:12], hashed_key=api_key_hash(raw), **kwargs)
        key.raw_key = raw
        return key


class AssistantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assistant

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Assistant {n}")
    welcome_message = "Hello from the assistant."
    llm_settings = factory.LazyFunction(lambda: {"model": "gpt-4o-mini", "temperature": 0.3})


class ConversationFlowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConversationFlow

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Flow {n}")
    base_assistant = factory.SubFactory(AssistantFactory, organization=factory.SelfAttribute("..organization"))
    definition = factory.LazyFunction(lambda: dict(SIMPLE_FLOW))


class TelephonyAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TelephonyAccount

    organization = factory.SubFactory(OrganizationFactory)
    provider = "sandbox"
    name = factory.Sequence(lambda n: f"Account {n}")
    credentials = factory.LazyFunction(dict)


class PhoneNumberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PhoneNumber

    organization = factory.SubFactory(OrganizationFactory)
    # The fictional +1 415 555 01xx range: valid per libphonenumber, reaches nobody.
    phone_number = factory.Sequence(lambda n: f"+1415555{n % 10000:04d}")
    telephony_account = factory.SubFactory(
        TelephonyAccountFactory, organization=factory.SelfAttribute("..organization")
    )
    assistant = factory.SubFactory(AssistantFactory, organization=factory.SelfAttribute("..organization"))


class CallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Call

    organization = factory.SubFactory(OrganizationFactory)
    assistant = factory.SubFactory(AssistantFactory, organization=factory.SelfAttribute("..organization"))
    from_number = "+14155550100"
    to_number = "+14155550199"
    provider = "sandbox"
    call_sid = factory.Sequence(lambda n: f"SB{n:032x}")
    status = "queued"
