"""Parses every PromQL expression of a Grafana dashboard (Grafana's $__ variables replaced)."""
import json
import sys

import promql_parser

dashboard = json.load(open(sys.argv[1]))
expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
for variable in dashboard["templating"]["list"]:
    query = variable["query"]["query"]
    expressions.append(query[len("label_values("):-1].rsplit(",", 1)[0])
failed = 0
for expression in expressions:
    try:
        promql_parser.parse(expression.replace("$__rate_interval", "1m").replace("$__range", "1h"))
    except Exception as error:  # the parser raises plain exceptions
        failed += 1
        print(f"{expression}: {error}")
print(f"{len(expressions) - failed} expressions parse, {failed} do not")
sys.exit(1 if failed else 0)
