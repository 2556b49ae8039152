"""The encode side of sealing: each parcel's delivery details to its delivery region's key.

A zone's delivery region is its `delivery_region` property when the zones file has one, else its
sort center: all stations of a sort center share one delivery key. Re-zoning inside a region
(routes and zones redrawn, the usual peak-season change) strands nothing; a zone moved to another
region keeps working only while the receiving station also holds the old region's key (`unseal`
takes several `--key`s), which README "At the delivery station" describes.
"""

from __future__ import annotations

from collections.abc import Mapping

from addrcode.records import Parcel


class SealRefused(ValueError):
    """A row that cannot be sealed (its reason is the row's reject reason)."""


def address_text(address) -> str:
    """The address as the shipper gave it: the one-line text, or the component values in order."""
    if isinstance(address, dict):
        return " ".join(str(v).strip() for v in address.values() if str(v or "").strip())
    return str(address or "").strip()


class Sealer:
    """Seals delivery details for the zones it is given, with the region public keys `region_keys`."""

    def __init__(self, region_keys: Mapping, region_field: str = "delivery_region"):
        self.region_keys = dict(region_keys)
        self.region_field = region_field

    def region_of(self, zone) -> str:
        return dict(zone.fields).get(self.region_field) or zone.sort_center

    def seal(self, code: str, zone, query) -> str:
        """The envelope text for the parcel `query` (a `Parcel`, or the address alone) of compact code
        `code` in `zone`. `SealRefused` when the region has no key or the details are too long."""
        from addrcode.delivery.envelope import DeliveryDetails, DetailsTooLong, seal

        region = self.region_of(zone)
        key = self.region_keys.get(region)
        if key is None:
            raise SealRefused(f"no delivery key for region {region} (add its .pub file to the delivery keys "
                              "folder)")
        parcel = query if isinstance(query, Parcel) else Parcel(query)
        details = DeliveryDetails(code=code, address=address_text(parcel.address), name=parcel.name,
                                  phone=parcel.phone, notes=parcel.notes)
        try:
            return seal(details, key)
        except DetailsTooLong as exc:
            raise SealRefused(str(exc)) from None


def open_sealer(folder) -> Sealer:
    """The `Sealer` of a delivery keys folder (`delivery_keys`)."""
    from addrcode.delivery.keys import load_region_keys

    return Sealer(load_region_keys(folder))
