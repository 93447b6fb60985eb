"""Every move of a Notification, and nothing else (portal/states.py).

    pending ──claim──▶ sending ──▶ sent
       ▲                 │  │
       └──(may pass; due │  └──▶ failed   (a refusal, or the last attempt)
       │   again later)──┘          ▲
       └────────────────────────────┘  the address bounced: nothing waiting goes out
    sending ──▶ sending: a claim older than CLAIM_TIMEOUT, its worker presumed dead
    failed ──▶ pending: support asks for it again (notifications/resend.py), attempts reset
"""

from portal.states import StateMachine

from .models import Notification

S = Notification.Status

NOTIFICATION = StateMachine("Notification", Notification, initial=(S.PENDING,), table={
    S.PENDING: (S.SENDING, S.FAILED),
    S.SENDING: (S.SENT, S.PENDING, S.FAILED, S.SENDING),
    S.SENT: (),
    S.FAILED: (S.PENDING,),
})
