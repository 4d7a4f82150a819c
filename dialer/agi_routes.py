"""The node's FastAGI routes: what any dialplan can ask the dialer.

    AGI(agi://127.0.0.1:4573/dnc-check,${NUMBER})      -> DNC_RESULT=allowed|blocked|invalid

`dnc-check` syncs the DNC with the store first (another node's refusal counts), then
checks the number in the global scope, or also a tenant's and campaign's when the AGI
URL names them (`dnc-check?tenant=3&campaign=12`). A store that cannot be read raises,
so the dialplan gets no DNC_RESULT and takes its blocked branch (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping

from ari_bridge import AgiHandler, AgiRequest
from dnc import Dnc


def dnc_check_route(dnc: Dnc) -> AgiHandler:
    """The `dnc-check` route over a node's DNC."""

    async def dnc_check(request: AgiRequest) -> Mapping[str, str]:
        number = request.args[0] if request.args else ""
        result = await dnc.check_fresh(number, tenant=request.query.get("tenant"),
                                       campaign=request.query.get("campaign"))
        return result.channel_variables()

    return dnc_check


def routes(dnc: Dnc) -> dict[str, AgiHandler]:
    """Every route a node serves."""
    return {"dnc-check": dnc_check_route(dnc)}
