"""How a job looks from outside: in API answers and in callback bodies alike."""

from rest_framework import serializers

from jobs.models import Job, JobEvent
from jobs.workflows import workflow_all


class JobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobEvent
        fields = ["kind", "attempt", "from_status", "to_status", "duration_ms", "error_code", "error_message",
                  "data", "at"]


class JobSerializer(serializers.ModelSerializer):
    priority = serializers.CharField(source="priority_name")
    error = serializers.SerializerMethodField()
    estimated_cost = serializers.DecimalField(max_digits=12, decimal_places=6, coerce_to_string=True)
    actual_cost = serializers.DecimalField(max_digits=12, decimal_places=6, coerce_to_string=True, allow_null=True)

    class Meta:
        model = Job
        fields = ["id", "object", "livemode", "workflow", "status", "priority", "payload", "callback_url", "result",
                  "error", "attempts", "max_attempts", "next_attempt_at", "cancel_requested_at", "estimated_cost",
                  "actual_cost", "callback_status", "created_at", "started_at", "finished_at"]

    object = serializers.SerializerMethodField()

    def get_object(self, job) -> str:
        return "job"

    def get_error(self, job) -> dict | None:
        if not job.error_code:
            return None
        return {"code": job.error_code, "message": job.error_message}


class JobDetailSerializer(JobSerializer):
    events = JobEventSerializer(many=True, read_only=True)

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ["events"]


class JobCreateSerializer(serializers.Serializer):
    """Only for the OpenAPI schema: intake validation runs against the old JSON schema."""

    workflow = serializers.CharField(
        max_length=100, help_text=("A built-in (" + ", ".join(w.name for w in workflow_all()) + ") or an installed "
                                   "marketplace module (partner.<slug>); GET /api/v1/workflows lists the caller's, "
                                   "with each one's payload schema."))
    payload = serializers.DictField()
    callback_url = serializers.URLField(max_length=1024, required=False)
    priority = serializers.ChoiceField(choices=["low", "normal", "high"], required=False)


class JobPageSerializer(serializers.Serializer):
    """One page of GET /api/v1/jobs (cursor pagination): described for the schema only."""

    next = serializers.URLField(allow_null=True, help_text="The next page, or null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, or null on the first.")
    results = JobSerializer(many=True)
