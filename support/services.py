from .models import StaffAction


def staff_action_record(*, actor, kind: str, order=None, esim=None, note: str = "",
                        outcome: str = "") -> StaffAction:
    return StaffAction.objects.create(actor=actor, kind=kind, order=order, esim=esim,
                                      note=note[:255], outcome=outcome[:255])
