"""A small inventory service: stock levels, reservations and reorder suggestions."""

from __future__ import annotations

from dataclasses import dataclass, field


class OutOfStock(Exception):
    """Raised when a reservation asks for more units than are available."""


@dataclass
class Item:
    sku: str
    name: str
    quantity: int = 0
    reserved: int = 0
    reorder_level: int = 5

    @property
    def available(self) -> int:
        return self.quantity - self.reserved


@dataclass
class Inventory:
    items: dict[str, Item] = field(default_factory=dict)

    def add_item(self, sku: str, name: str, quantity: int = 0, reorder_level: int = 5) -> Item:
        """Register a new item, or add stock to an existing one."""
        if quantity < 0:
            raise ValueError("quantity must not be negative")
        item = self.items.get(sku)
        if item is None:
            item = Item(sku=sku, name=name, quantity=quantity, reorder_level=reorder_level)
            self.items[sku] = item
        else:
            item.quantity += quantity
        return item

    def reserve(self, sku: str, units: int) -> int:
        """Reserve units of an item for an order; returns the units still available."""
        item = self.items[sku]
        if units <= 0:
            raise ValueError("units must be positive")
        if units > item.available:
            raise OutOfStock(f"{sku}: {units} requested, {item.available} available")
        item.reserved += units
        return item.available

    def release(self, sku: str, units: int) -> None:
        """Cancel part of a reservation."""
        item = self.items[sku]
        item.reserved = max(0, item.reserved - units)

    def ship(self, sku: str, units: int) -> None:
        """Ship reserved units: they leave both the stock and the reservation."""
        item = self.items[sku]
        if units > item.reserved:
            raise ValueError(f"{sku}: cannot ship {units}, only {item.reserved} reserved")
        item.reserved -= units
        item.quantity -= units

    def reorder_suggestions(self) -> list[tuple[str, int]]:
        """Items at or below their reorder level, with the units needed to reach twice that level."""
        suggestions = []
        for sku, item in sorted(self.items.items()):
            if item.available <= item.reorder_level:
                suggestions.append((sku, 2 * item.reorder_level - item.available))
        return suggestions
