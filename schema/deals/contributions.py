"""What the large-deals part adds to the core plugin."""

from __future__ import annotations

from schema.deals.mutations import DealMutations
from schema.deals.types import LargeDeal, PartnerDealFields, visible_large_deals

TYPES = [LargeDeal]
EXTENSIONS = [PartnerDealFields, DealMutations]
NODE_RESOLVERS = {"LargeDeal": visible_large_deals}
