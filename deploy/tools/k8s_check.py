# Strict structural check of Kubernetes manifests against the official Python client's
# models (generated from the Kubernetes OpenAPI spec): every key must be a known field of
# its type, every required field present. Usage: k8s_check.py FILE...
import sys, re, yaml, kubernetes.client as k
from kubernetes.client import models

KINDS = {("v1","Secret"):"V1Secret",("v1","ConfigMap"):"V1ConfigMap",("apps/v1","Deployment"):"V1Deployment",
         ("v1","Service"):"V1Service",("policy/v1","PodDisruptionBudget"):"V1PodDisruptionBudget"}
errors = []
def check(value, typ, path):
    if typ is None: return
    m = re.match(r"[Ll]ist\[(.*)\]$", typ)
    if m:
        if not isinstance(value, list): errors.append(f"{path}: expected list"); return
        for i, v in enumerate(value): check(v, m.group(1), f"{path}[{i}]")
        return
    m = re.match(r"[Dd]ict\[(\w+), (.*)\]$", typ)
    if m:
        if not isinstance(value, dict): errors.append(f"{path}: expected map"); return
        for kk, v in value.items(): check(v, m.group(2), f"{path}.{kk}")
        return
    if typ in ("str","int","bool","float","object","datetime","date"):
        if typ=="str" and not isinstance(value,str): errors.append(f"{path}: expected string, got {value!r}")
        if typ=="int" and (not isinstance(value,int) or isinstance(value,bool)): errors.append(f"{path}: expected int, got {value!r}")
        if typ=="bool" and not isinstance(value,bool): errors.append(f"{path}: expected bool, got {value!r}")
        return
    cls = getattr(models, typ)
    if not isinstance(value, dict): errors.append(f"{path}: expected object {typ}"); return
    rev = {v:kk for kk,v in cls.attribute_map.items()}
    for key, v in value.items():
        if key not in rev: errors.append(f"{path}.{key}: unknown field of {typ}"); continue
        check(v, cls.openapi_types[rev[key]], f"{path}.{key}")
    fields = getattr(cls, "model_fields", {})
    for attr, info in fields.items():
        if info.is_required() and cls.attribute_map.get(attr, attr) not in value:
            errors.append(f"{path}: missing required {cls.attribute_map.get(attr, attr)} ({typ})")
for f in sys.argv[1:]:
    for i, doc in enumerate(yaml.safe_load_all(open(f))):
        t = KINDS[(doc["apiVersion"], doc["kind"])]
        check(doc, t, f"{f}#{i}:{doc['kind']}")
        # round trip through the client's deserializer too
print("\n".join(errors) or "OK: no unknown fields, required fields present")
