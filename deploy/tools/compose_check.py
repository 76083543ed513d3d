"""Validates a compose file against the compose-spec JSON schema (argv: schema, compose file)."""
import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
document = yaml.safe_load(open(sys.argv[2]))
errors = list(jsonschema.Draft202012Validator(schema).iter_errors(document))
for error in errors:
    print(f"{sys.argv[2]}: {list(error.path)}: {error.message}")
sys.exit(1 if errors else 0)
