"""The embedded Kubernetes API server (issue 15): the subset of the Kubernetes REST API that
kubectl and the official client use, over HTTPS with the project's CA, kept in SQLite.

``server.py`` (HTTPS, authentication, routing, watches), ``api.py`` (the verbs' rules),
``store.py`` (objects and resourceVersions), ``resources.py`` (the kinds, validation),
``discovery.py`` (discovery and OpenAPI v3), ``tables.py`` (``kubectl get``'s columns),
``patch.py`` (the patch types), ``selectors.py``, ``protobuf.py`` (kubectl create's bodies);
``actor.py`` (module ``kubeapi``), ``controller.py``, ``watcher.py``, ``writer.py`` and
``scheduler.py`` (the cloud controller on the Kubernetes API and the scheduler,
docs/protocol.md#12.5), ``logs.py`` and ``execws.py`` (a pod's log and exec). See
docs/protocol.md#12.4.
"""
