"""The cost guard: every operation's cost is estimated before it runs (backend.api.cost)
and paid from the client's budget, a leaky bucket (backend.domain.quotas) kept where the
quota store keeps it (in process, or in Redis across instances).

Refusals are GraphQL errors with machine-readable extensions, the way GitHub and Shopify
report them:
  - ``QUERY_TOO_COSTLY`` (``cost``, ``maxCost``): the operation alone is over the maximum;
    no waiting helps, the client must ask for less;
  - ``THROTTLED`` (``cost``, ``retryAfterS``, ``remaining``): the budget is spent for now.
Nothing is executed and nothing is charged for a refused operation.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from backend.api.cache_probe import record_operation
from backend.api.context import Context
from backend.api.cost import operation_cost
from backend.domain.quotas import Quota
from backend.quota_stores import QuotaStore


def cost_limit(quotas: QuotaStore, quota: Quota, max_cost: int) -> Callable[[], SchemaExtension]:
    """A factory for the schema's extension list (one instance per request)."""

    def build() -> SchemaExtension:
        return CostLimit(quotas=quotas, quota=quota, max_cost=max_cost)

    return build


class CostLimit(SchemaExtension):
    def __init__(self, *, quotas: QuotaStore, quota: Quota, max_cost: int) -> None:
        self.quotas = quotas
        self.quota = quota
        self.max_cost = max_cost

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            cost = operation_cost(
                context.schema._schema, document, context.operation_name, context.variables
            )
            refusal = await self._refusal(cost, context.context)
            if refusal is not None:
                context.result = GraphQLExecutionResult(data=None, errors=[refusal])
            else:
                is_query = context.operation_type is OperationType.QUERY
                record_operation(cost, is_query=is_query)
        yield

    async def _refusal(self, cost: int, request_context: Context) -> GraphQLError | None:
        # an operation dearer than a whole budget could never run: no waiting would help
        most = min(self.max_cost, math.floor(self.quota.burst))
        if cost > most:
            return GraphQLError(
                f"this operation would cost {cost} points; the most one may cost is "
                f"{most} (ask for fewer items or fields)",
                extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": most},
            )
        key = await request_context.client_key()
        decision = await self.quotas.take(self.quota, key, cost)
        if decision.allowed:
            return None
        retry_after_s = math.ceil(decision.retry_after_s * 10) / 10
        return GraphQLError(
            f"throttled: this operation costs {cost} points and {decision.remaining:.0f} are "
            f"left; try again in {retry_after_s:g} s",
            extensions={
                "code": "THROTTLED",
                "cost": cost,
                "remaining": math.floor(decision.remaining),
                "retryAfterS": retry_after_s,
            },
        )
