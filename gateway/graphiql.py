"""The GraphiQL page served at GET /graphql to browsers (when GATEWAY_GRAPHIQL is on), and its assets.

The scripts and the stylesheet are served from the package (``gateway/static/graphiql``, pinned
versions copied from npm, see its README), so GraphiQL works without internet. With GraphiQL
off, a browser gets a short page saying how to query the API instead.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

STATIC_DIR = Path(__file__).parent / "static" / "graphiql"
STATIC_PREFIX = "/graphiql/static/"
# file name -> media type; each name carries its version, so a browser may keep it forever
ASSETS = {
    "react-18.2.0.production.min.js": "text/javascript; charset=utf-8",
    "react-dom-18.2.0.production.min.js": "text/javascript; charset=utf-8",
    "graphiql-3.8.3.min.js": "text/javascript; charset=utf-8",
    "graphiql-3.8.3.min.css": "text/css; charset=utf-8",
}
CACHE_FOREVER = "public, max-age=31536000, immutable"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>Partner Gateway · GraphiQL</title>
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
  <link rel="stylesheet" href="__STATIC__graphiql-3.8.3.min.css" />
</head>
<body>
  <div id="graphiql">Loading GraphiQL… The API itself answers POST /graphql.</div>
  <script src="__STATIC__react-18.2.0.production.min.js"></script>
  <script src="__STATIC__react-dom-18.2.0.production.min.js"></script>
  <script src="__STATIC__graphiql-3.8.3.min.js"></script>
  <script>
    const headers = __HEADERS__;
    const fetcher = GraphiQL.createFetcher({ url: window.location.pathname, headers: {} });
    const root = ReactDOM.createRoot(document.getElementById("graphiql"));
    root.render(React.createElement(GraphiQL, {
      fetcher,
      defaultHeaders: JSON.stringify(headers, null, 2),
      shouldPersistHeaders: true,
      defaultQuery: __QUERY__,
    }));
  </script>
</body>
</html>
"""

# The query GraphiQL opens with when no plugin answers ``gateway_graphiql_query`` (the core does).
DEFAULT_QUERY = """# The bearer token of your choice goes in the Headers tab below.
{
  __typename
}
"""

_OFF_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8" /><title>Partner Gateway · GraphQL endpoint</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem; }
pre { background: #f4f4f4; padding: 1rem; overflow-x: auto; }</style></head>
<body>
<h1>Partner Gateway: GraphQL endpoint</h1>
<p>This is the GraphQL API. GraphiQL (the in-browser editor) is off on this gateway; on a development
gateway, set <code>GATEWAY_GRAPHIQL=1</code> (<code>make run</code> does) to use it here.</p>
<p>Send queries with POST and a bearer token, for example:</p>
<pre>curl __URL__ \\
  -H 'Content-Type: application/json' \\
  -H 'Authorization: Bearer YOUR_TOKEN' \\
  -d '{"query": "{ viewer { user { email } } }"}'</pre>
<p>GET works too for queries: <code>__URL__?query={__typename}</code>.</p>
</body>
</html>
"""


def graphiql_page(token: str | None, query: str | None = None) -> str:
    """GraphiQL, opening with ``query`` (default: :data:`DEFAULT_QUERY`) and ``token`` in its headers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # "</" inside a JSON string would end the inline <script>; escape it
    return (_PAGE.replace("__STATIC__", STATIC_PREFIX)
            .replace("__HEADERS__", json.dumps(headers).replace("</", "<\\/"))
            .replace("__QUERY__", json.dumps(query or DEFAULT_QUERY).replace("</", "<\\/")))


def graphiql_off_page(url: str) -> str:
    """What a browser gets at GET /graphql when GraphiQL is off: how to query the API instead."""
    endpoint = url.split("?", 1)[0]
    return _OFF_PAGE.replace("__URL__", html.escape(endpoint))


async def graphiql_asset(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = ASSETS.get(name)
    if media_type is None:  # only the listed files: never a path into the package
        return PlainTextResponse("Not Found", status_code=404)
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers={"Cache-Control": CACHE_FOREVER})


def graphiql_routes() -> list[Route]:
    return [Route(STATIC_PREFIX + "{name}", graphiql_asset, methods=["GET", "HEAD"])]
