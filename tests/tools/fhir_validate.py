"""Validates FHIR R4 JSON resources with fhir.resources 6.5.0 (pinned to R4 4.0.1; nobody here
wrote it). Reads file paths from the command line; each file holds one resource. Prints one line
per invalid resource and exits 1 when any was invalid.

A Bundle validates its entries' resources too. fhir.resources checks element names (unknown
elements are errors), cardinality, required elements, choice types and the formats of primitives
(id, instant, dateTime, uri, code). It does not check code values against value sets: the Rust
tests assert the codes Consilium sends."""
import json
import sys

import fhir.resources
from fhir.resources import construct_fhir_element

assert fhir.resources.__version__ == "6.5.0", fhir.resources.__version__

failed = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    kind = data.get("resourceType", "?")
    try:
        construct_fhir_element(kind, data)
    except Exception as e:  # pydantic.ValidationError, or an unknown resourceType
        failed += 1
        print(f"{path}: {kind} is not valid R4: {e}".replace("\n", " | "))
print(f"validated {len(sys.argv) - 1} resources, {failed} invalid")
sys.exit(1 if failed else 0)
