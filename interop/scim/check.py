"""Runs PyPI scim2-tester against a running Tillit SCIM endpoint.

Usage: python3 check.py BASE_URL TOKEN   (BASE_URL ends in /scim/v2)

Prints every check with its status; a skipped check is printed with scim2-tester's reason (for
this server: features its ServiceProviderConfig says are not supported). Exits 1 when any check
errs. The last line reads "scim2-tester: N errors, M succeeded, K skipped".
"""

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    counts = {"errors": 0, "succeeded": 0, "skipped": 0}
    for r in results:
        where = f" [{r.resource_type}]" if r.resource_type else ""
        status = r.status.name if hasattr(r.status, "name") else str(r.status)
        if r.status in (Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE):
            counts["succeeded"] += 1
            print(f"ok      {r.title}{where}")
        elif r.status == Status.SKIPPED:
            counts["skipped"] += 1
            print(f"skipped {r.title}{where}: {r.reason}")
        else:
            counts["errors"] += 1
            print(f"{status:<7} {r.title}{where}: {r.reason}")
    print(
        f"scim2-tester: {counts['errors']} errors, {counts['succeeded']} succeeded, "
        f"{counts['skipped']} skipped"
    )
    return 1 if counts["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
