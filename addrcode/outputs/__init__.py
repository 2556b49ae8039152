"""What people see: labels, scans, run reports and zone maps.

- `label`: privacy waybill labels (PDF, PNG, SVG) with the code instead of the address.
- `mask`: masking of names, phones and addresses for labels and reports.
- `scan`: codes read back from scanner payloads and label images.
- `report`: the self-contained HTML run report of a batch encode; `zonemap`: zones drawn as SVG.
"""
