"""Which subscribers are which. Each rule is defined here once, as a filter for querysets and, where rows
already read need it, as a test of one row (the two are checked against each other in the tests).

Services, the API, the admin, the views and the email senders all ask these; none spells a list of states.
"""

from django.db.models import Q

from .models import Subscriber, SubscriberState

# Still subscribed. The live unique constraints (`~Q(state="unsubscribed")`) hold these to one per address.
# In this order where counts are listed (the v1 histogram).
LIVE_STATES = (SubscriberState.ACTIVE, SubscriberState.UNCONFIRMED, SubscriberState.QUARANTINED)

# Live and confirmed: the owner manages the subscription through its manage link, not a confirmation.
CONFIRMED_STATES = (SubscriberState.ACTIVE, SubscriberState.QUARANTINED)

# What `subscriber_reactivate` lifts: a quarantine (bounces) or an unsubscription.
REACTIVATABLE_STATES = (SubscriberState.QUARANTINED, SubscriberState.UNSUBSCRIBED)

# Waits for its confirmation email: unconfirmed, with an address to send it to. An email subscriber always
# has one; an anonymous webhook is confirmed through its contact address; an SMS number has none.
AWAITING_CONFIRMATION = Q(state=SubscriberState.UNCONFIRMED) & ~Q(email="")


def awaits_confirmation(subscriber: Subscriber) -> bool:
    """AWAITING_CONFIRMATION for a row already read."""
    return subscriber.state == SubscriberState.UNCONFIRMED and bool(subscriber.email)


def staff_moves(state: str) -> tuple[str, ...]:
    """The states staff may move a subscriber to from `state`: unsubscribe a live one, reactivate a
    reactivatable one. The others are not staff decisions: an address confirms through its link, and the
    delivery worker quarantines on bounces."""
    moves: tuple[str, ...] = ()
    if state in REACTIVATABLE_STATES:
        moves += (SubscriberState.ACTIVE,)
    if state in LIVE_STATES:
        moves += (SubscriberState.UNSUBSCRIBED,)
    return moves
