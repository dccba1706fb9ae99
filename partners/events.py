"""The webhook event types partners receive (registered with levqor.webhooks in ready())."""

PARTNER_VERIFIED = "partner.verified"
PARTNER_SUSPENDED = "partner.suspended"
REVIEW_DUE = "review.due"
AUDIT_COMPLETED = "audit.completed"

PARTNER_EVENT_TYPES = {
    PARTNER_VERIFIED: "The partner was approved (or reinstated) and may use the partner API.",
    PARTNER_SUSPENDED: "The partner was suspended, with the reason.",
    REVIEW_DUE: "The partner's periodic review is due.",
    AUDIT_COMPLETED: "An audit of the partner finished, with its findings.",
}
