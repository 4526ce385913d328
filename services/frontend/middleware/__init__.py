"""What wraps every request: telemetry, the correlation id, body limits, activity reports.

`main.py` installs them; the request-wide ones are exported here by name.
"""

from services.frontend.middleware.body_size import BodySizeLimit, upload_body_limit
from services.frontend.middleware.correlation import correlation_id
from services.frontend.middleware.outages import answer_outages_with_503

__all__ = ["BodySizeLimit", "answer_outages_with_503", "correlation_id", "upload_body_limit"]
