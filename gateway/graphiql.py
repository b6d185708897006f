"""The GraphiQL page served at GET /graphql to browsers (when GATEWAY_GRAPHIQL is on)."""

from __future__ import annotations

import json

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>Partner Gateway · GraphiQL</title>
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
  <link rel="stylesheet" href="https://unpkg.com/graphiql@3.8.3/graphiql.min.css" />
</head>
<body>
  <div id="graphiql">Loading GraphiQL (needs unpkg.com)… The API itself answers POST /graphql.</div>
  <script crossorigin src="https://unpkg.com/react@18.2.0/umd/react.production.min.js"></script>
  <script crossorigin src="https://unpkg.com/react-dom@18.2.0/umd/react-dom.production.min.js"></script>
  <script crossorigin src="https://unpkg.com/graphiql@3.8.3/graphiql.min.js"></script>
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

DEFAULT_QUERY = """# Partner Gateway. The demo token of your choice goes in the Headers tab below.
{
  viewer {
    user { email name }
    isPlatformAdmin
    partnerMemberships { role partner { name code } }
    organizationMemberships { role organization { name domain } }
  }
}
"""


def graphiql_page(token: str | None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return _PAGE.replace("__HEADERS__", json.dumps(headers)).replace("__QUERY__", json.dumps(DEFAULT_QUERY))
