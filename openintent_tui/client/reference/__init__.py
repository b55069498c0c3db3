"""The reference server's dialect of `ServerAPI` (`openintent-server` from the `openintent`
package): every way it differs from our server, in one place.

- `client`: `ReferenceClient`, the native client with the differing calls overridden, and its
  declared `REFERENCE` capabilities (what it lacks is never asked for by the screens).
- `adapters`: its response shapes reshaped into the `backend.wire` Structs.
- `rebuilt`: records it does not send back, rebuilt from what it does send.
- `stream`: its SSE frames.
"""

from .client import REFERENCE, ReferenceClient

__all__ = ["REFERENCE", "ReferenceClient"]
