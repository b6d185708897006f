"""What the people part (members and tokens) adds to the core plugin."""

from __future__ import annotations

from schema.people.mutations import PeopleMutations
from schema.people.types import ApiToken, PartnerMemberFields, ViewerTokenFields, own_api_tokens

TYPES = [ApiToken]
EXTENSIONS = [PeopleMutations, PartnerMemberFields, ViewerTokenFields]
NODE_RESOLVERS = {"ApiToken": own_api_tokens}
