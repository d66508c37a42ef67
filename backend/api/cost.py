"""What a GraphQL operation costs, estimated from the document before anything runs.

The model follows Shopify's and GitHub's published ones: a field returning an object costs 1
plus what is selected under it; scalars and enums cost nothing; a list multiplies what is
under it by the number of items it can return. That number is the field's ``first``
argument (from the document, a variable or its default) and otherwise
``DEFAULT_LIST_SIZE``. Every page in this API is cut to ``MAX_PAGE_SIZE`` by its resolver,
so a larger ``first`` counts as that many (the resolver then answers with a typed error).
A field with ``first`` that returns a single object is a connection: its page size is
counted there, and the lists directly under it (``edges``) are not counted again.

Fragments count in full wherever they are spread, and every branch of an abstract type
is counted (an upper bound: the estimate must not depend on data). Mutations add
``MUTATION_COST`` because each one writes. The estimate is an upper bound on the objects
resolved, which is what the cost of serving the operation follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

DEFAULT_LIST_SIZE = 10
MAX_PAGE_SIZE = 100
MUTATION_COST = 10
PAGE_ARGUMENT = "first"


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """The estimated cost of the operation a request would run. The document must have
    passed validation (fragment cycles and unknown fields are refused there)."""
    operation = _operation(document, operation_name)
    if operation is None:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root is None:
        return 0
    walker = _Walker(schema, fragments, dict(variables or {}))
    cost = walker.selection_cost(operation.selection_set, root, paged=False, path=frozenset())
    if operation.operation is OperationType.MUTATION:
        cost += MUTATION_COST * len(operation.selection_set.selections)
    return cost


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def selection_cost(
        self, selections: SelectionSetNode, parent: Any, *, paged: bool, path: frozenset[str]
    ) -> int:
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent, paged=paged, path=path)
            elif isinstance(selection, InlineFragmentNode):
                on = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                total += self.selection_cost(selection.selection_set, on, paged=paged, path=path)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in path:  # validation refuses both; stay total
                    continue
                on = self.schema.get_type(fragment.type_condition.name.value)
                total += self.selection_cost(
                    fragment.selection_set, on, paged=paged, path=path | {name}
                )
        return total

    def field_cost(self, node: FieldNode, parent: Any, *, paged: bool, path: frozenset[str]) -> int:
        definition = self._definition(parent, node.name.value)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        if is_leaf_type(named) or node.selection_set is None:
            return 0
        page = self._page_size(node, definition)
        is_list = _is_list(definition.type)
        if page is not None:
            multiplier = page
        elif is_list and not paged:
            multiplier = DEFAULT_LIST_SIZE
        else:
            multiplier = 1
        # the lists right under a connection are its page, already counted above
        below_paged = page is not None and not is_list
        inner = self.selection_cost(node.selection_set, named, paged=below_paged, path=path)
        return multiplier * (1 + inner)

    def _definition(self, parent: Any, name: str) -> GraphQLField | None:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        fields = getattr(parent, "fields", None)
        if fields is None:  # a union: only __typename can be selected on it directly
            return None
        field: GraphQLField | None = fields.get(name)
        return field

    def _page_size(self, node: FieldNode, definition: GraphQLField) -> int | None:
        argument_definition = definition.args.get(PAGE_ARGUMENT)
        if argument_definition is None:
            return None
        value: Any = argument_definition.default_value
        for argument in node.arguments or ():
            if argument.name.value != PAGE_ARGUMENT:
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value, value)
        if not isinstance(value, int) or isinstance(value, bool):
            return DEFAULT_LIST_SIZE
        return max(1, min(value, MAX_PAGE_SIZE))


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)
