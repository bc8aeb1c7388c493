"""Request hygiene shared by every URL."""

from .errors import error_response


class RejectNulBytesMiddleware:
    """A NUL byte in the path or query string is never meaningful here, and PostgreSQL refuses to store or
    compare text containing one: answer 400 rather than fail deeper with a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "\x00" in request.path
            or "%00" in request.META.get("QUERY_STRING", "")
            or any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())
        ):
            return error_response("bad_request", "The URL contains a NUL byte.", 400)
        return self.get_response(request)
