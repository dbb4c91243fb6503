"""Load the collection's shared models: the access-policy validator and the OSCAR path rules.

On a host, the gateway role copies ``plugins/module_utils/_access_policy.py`` and
``_oscar_paths.py`` into this package, so ``oscar_gateway._access_policy`` imports directly. In the
repository (tests), the same files are loaded from the collection's ``plugins/module_utils``, so
the gateway always validates policies and normalizes paths with exactly the code nginx and the
inventory use. Nothing here is copied or re-implemented.
"""

import importlib
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_COLLECTION_MODULE_UTILS = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "..", "plugins", "module_utils"))
_COLLECTION_PACKAGE = "ansible_collections.oscar_emr.remote_access.plugins.module_utils"


def _load(name):
    """Return the shared module ``name`` (``_access_policy`` or ``_oscar_paths``), or None."""
    try:
        return importlib.import_module("oscar_gateway." + name)
    except ImportError as exc:
        if exc.name not in ("oscar_gateway." + name,):
            raise
    try:
        return importlib.import_module(_COLLECTION_PACKAGE + "." + name)
    except ImportError:
        pass
    path = os.path.join(_COLLECTION_MODULE_UTILS, name + ".py")
    if not os.path.isfile(path):
        return None
    module_name = "oscar_gateway._collection" + name
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[module_name]
        raise
    return module


def access_policy_module():
    return _load("_access_policy")


def oscar_paths_module():
    return _load("_oscar_paths")
