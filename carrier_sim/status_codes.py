"""ES2+ status codes (SGP.22 v2.5 section 5.2.6) and the error that carries them.

A Failed answer names a subject (what is wrong) and a reason (how it is wrong).
Where docs/carrier.md names a code it is used as written (8.2.1/3.9 unknown ICCID,
1.6/2.2 missing parameter, 1.2/4.4 busy); the others follow the subject and
reason tables of SGP.22 and the per-function tables of sections 5.3.1 to 5.3.4.
"""

from __future__ import annotations

from typing import Any

# Subjects: 1.1 function requester, 1.2 function provider, 1.3.1 protocol format,
# 1.3.2 protocol version, 1.6 function, 8.1.1 EID, 8.2.1 profile ICCID,
# 8.2.5 profile type, 8.2.6 matching ID.
# Reasons: 1.2 not allowed, 2.1 invalid, 2.2 mandatory element missing,
# 3.1 unsupported, 3.3 already in use / not available, 3.5 invalid transition,
# 3.8 refused, 3.9 unknown, 3.10 invalid association, 4.2 execution error, 4.4 busy.
REQUESTER_NOT_ALLOWED = ("1.1", "1.2")
BUSY = ("1.2", "4.4")
EXECUTION_ERROR = ("1.2", "4.2")
FORMAT_INVALID = ("1.3.1", "2.1")
VERSION_MISSING = ("1.3.2", "2.2")
VERSION_UNSUPPORTED = ("1.3.2", "3.1")
PARAMETER_INVALID = ("1.6", "2.1")
PARAMETER_MISSING = ("1.6", "2.2")
CALL_ID_REUSED = ("1.6", "3.3")
EID_INVALID = ("8.1.1", "2.1")
EID_MISSING = ("8.1.1", "2.2")
EID_MISMATCH = ("8.1.1", "3.10")
ICCID_INVALID = ("8.2.1", "2.1")
ICCID_NOT_AVAILABLE = ("8.2.1", "3.3")
ICCID_INVALID_TRANSITION = ("8.2.1", "3.5")
ICCID_UNKNOWN = ("8.2.1", "3.9")
PROFILE_TYPE_INVALID = ("8.2.5", "2.1")
PROFILE_TYPE_MISMATCH = ("8.2.5", "3.8")
MATCHING_ID_INVALID = ("8.2.6", "2.1")
MATCHING_ID_IN_USE = ("8.2.6", "3.3")
MATCHING_ID_MISMATCH = ("8.2.6", "3.10")


class Es2Error(Exception):
    """An ES2+ function ended as Failed; becomes the functionExecutionStatus."""

    def __init__(self, code: tuple[str, str], message: str, subject_identifier: str = "") -> None:
        super().__init__(message)
        self.subject_code, self.reason_code = code
        self.message = message
        self.subject_identifier = subject_identifier

    def execution_status(self) -> dict[str, Any]:
        return {
            "status": "Failed",
            "statusCodeData": {
                "subjectCode": self.subject_code,
                "reasonCode": self.reason_code,
                "subjectIdentifier": self.subject_identifier,
                "message": self.message,
            },
        }
