"""An initial Kerberos GSS-API token (base64) for a service principal, from
the caller's ticket cache (KRB5CCNAME, KRB5_CONFIG): what a redirection
console sends in AuthenticateSession type 2.

    gss_token.py HTTP/amt.vpro.test:16994@VPRO.TEST
"""

import base64
import sys

import gssapi

name = gssapi.Name(sys.argv[1], gssapi.NameType.kerberos_principal)
ctx = gssapi.SecurityContext(name=name, usage="initiate", mech=gssapi.MechType.kerberos)
print(base64.b64encode(ctx.step()).decode())
