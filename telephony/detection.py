"""Answering-machine detection: what a call asks for, and the one normalized outcome every carrier's is mapped onto."""

from __future__ import annotations

from django.db import models


class MachineDetection(models.TextChoices):
    """What a call does about answering machines."""

    OFF = "off"
    DETECT = "detect"  # ask the carrier, report the outcome, let the call go on
    HANGUP = "hangup"  # end the call when a machine answers
    LEAVE_MESSAGE = "leave_message"  # wait for the machine's greeting to end, say the voicemail message, hang up


class AnsweredBy(models.TextChoices):
    HUMAN = "human"
    MACHINE = "machine"
    FAX = "fax"
    UNKNOWN = "unknown"


# A detection outcome that no later one may change; an `unknown` may still be refined.
DECISIVE = frozenset({AnsweredBy.HUMAN, AnsweredBy.MACHINE, AnsweredBy.FAX})
# Modes in which Burki ends the call when a machine (or a fax) answers.
ENDS_ON_MACHINE = frozenset({MachineDetection.HANGUP, MachineDetection.LEAVE_MESSAGE})

# The end reasons of a call ended because a machine answered (see calls.lifecycle).
END_REASON_VOICEMAIL = "voicemail"
END_REASON_VOICEMAIL_MESSAGE_LEFT = "voicemail-message-left"
END_REASON_FAX = "fax"
