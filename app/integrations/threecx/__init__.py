"""3CX: a CRM template the tenant uploads makes 3CX look callers up and journal calls here.

3CX is the client: at ring time it asks `/integrations/3cx/{tenant}/lookup?number=…` for the
caller (we answer its template's JSON and pop the card on the agents' screens); after the
call it posts the call report to `/integrations/3cx/{tenant}/journal`. Both authenticate
with the `X-Stamgast-Secret` header the template sends.
"""

PROVIDER = "threecx"
SECRET_HEADER = "X-Stamgast-Secret"
