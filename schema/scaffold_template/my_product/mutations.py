"""``setMyProductStorage``: one input, a payload with the account and userErrors, one transaction.

Keyed by the organization, so it authorizes that organization. A mutation on an object by its own
ID (pause a job) first loads the object's organization (NotFound when no object has the ID), then
authorizes it: the gateway's plugins/README.md, "Writing a plugin", step 3.
"""

from __future__ import annotations

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.errors import UserError
from gateway.relay import decode_pk
from schema.access import audit, authorize_organization

from . import service
from .actions import SET_STORAGE
from .types import MyProductAccount


@strawberry.input
class SetMyProductStorageInput:
    organization_id: strawberry.ID
    storage_gb: int = strawberry.field(description="The storage to book, in GB (0 to 10000).")


@strawberry.type
class SetMyProductStoragePayload:
    account: MyProductAccount | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@extends(Mutation)
class MyProductMutations:
    @strawberry.mutation(description="Set an organization's My product storage (creates its account on first use).")
    async def set_my_product_storage(
        self, info: strawberry.Info[Context, None], input: SetMyProductStorageInput,
    ) -> SetMyProductStoragePayload:
        ctx: Context = info.context
        organization_id = decode_pk(input.organization_id, "Organization")

        async def body() -> SetMyProductStoragePayload:
            decision = await authorize_organization(ctx, SET_STORAGE, organization_id)  # FORBIDDEN, NOT_FOUND...
            row = await service.set_storage(ctx, organization_id, input.storage_gb)  # DomainError -> userErrors
            audit(ctx, decision, SET_STORAGE, organization_id=organization_id,
                  details={"storageGb": input.storage_gb})
            return SetMyProductStoragePayload(account=MyProductAccount.from_row(row))

        return await run_mutation(ctx, SetMyProductStoragePayload, body)
