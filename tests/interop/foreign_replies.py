"""Replies of servers we did not write, for the client tests
(test_foreign_servers.py): OMI's exact Identify reply (recorded from OMI
1.9.1, ../../shared/captures/servers/), and faults written the way OMI and
OpenWSMAN write them (the facts seen: OMI answers HTTP 500 with an
OMI_Error instance in the detail and a subcode such as
wsa:DestinationUnreachable, no WSManFault; OpenWSMAN a subcode and a
Reason only, with `HTTP/1.1 200 (null)`-style status lines and
`Connection: Close` on every reply)."""

# Recorded from OMI 1.9.1 (Basic over HTTP), byte for byte.
OMI_IDENTIFY = """<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" \
xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">
<soap:Header/>
<soap:Body>
<soap:IdentifyResponse>
<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>
<wsmid:ProductVendor>Open Management Infrastructure</wsmid:ProductVendor>
<wsmid:ProductVersion>1.9.1-0</wsmid:ProductVersion>
<wsmid:SecurityProfiles>
<wsmid:SecurityProfileName>http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic\
</wsmid:SecurityProfileName>
</wsmid:SecurityProfiles>
<wsmb:Capability_FaultIncludesCIMError \
xmlns:wsmb="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xml"/>
</soap:IdentifyResponse>
</soap:Body>
</soap:Envelope>
"""

SOAP_NS = ('xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
           'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
           'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"')


def omi_fault(relates_to, subcode="wsa:DestinationUnreachable", cim_status=6,
              message="The target class could not be found in the specified namespace.",
              reason="CIM_ERR_NOT_FOUND"):
    """An OMI-style fault: SOAP-ENV: prefixes, a subcode, an OMI_Error
    instance with the CIM status code and message, no WSManFault."""
    rel = f"<wsa:RelatesTo>{relates_to}</wsa:RelatesTo>" if relates_to else ""
    return f"""<SOAP-ENV:Envelope {SOAP_NS}>
<SOAP-ENV:Header>
<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>
<wsa:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</wsa:Action>
<wsa:MessageID>uuid:0AB58087-C2C3-0005-0000-000000010000</wsa:MessageID>
{rel}
</SOAP-ENV:Header>
<SOAP-ENV:Body>
<SOAP-ENV:Fault>
<SOAP-ENV:Code>
<SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>
<SOAP-ENV:Subcode>
<SOAP-ENV:Value>{subcode}</SOAP-ENV:Value>
</SOAP-ENV:Subcode>
</SOAP-ENV:Code>
<SOAP-ENV:Reason>
<SOAP-ENV:Text xml:lang="en-US">{reason}</SOAP-ENV:Text>
</SOAP-ENV:Reason>
<SOAP-ENV:Detail>
<p:OMI_Error xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/OMI_Error" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="p:OMI_Error_Type">
<p:OwningEntity>OMI:CIMOM</p:OwningEntity>
<p:MessageID>OMI:MI_Result:{cim_status}</p:MessageID>
<p:Message>{message}</p:Message>
<p:PerceivedSeverity>7</p:PerceivedSeverity>
<p:ProbableCause>0</p:ProbableCause>
<p:CIMStatusCode>{cim_status}</p:CIMStatusCode>
<p:OMI_Code>{cim_status}</p:OMI_Code>
<p:OMI_Type>MI</p:OMI_Type>
</p:OMI_Error>
</SOAP-ENV:Detail>
</SOAP-ENV:Fault>
</SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"""


def openwsman_fault(relates_to, subcode="wsman:InvalidSelectors",
                    reason="The Selectors for the resource were not valid",
                    detail="http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"
                           "InsufficientSelectors"):
    """An OpenWSMAN-style fault: a subcode, a reason and a w:FaultDetail,
    no WSManFault and no CIM error."""
    fd = f"<wsman:FaultDetail>{detail}</wsman:FaultDetail>" if detail else ""
    return (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            f'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">'
            f'<s:Header><wsa:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault'
            f'</wsa:Action><wsa:RelatesTo>{relates_to}</wsa:RelatesTo></s:Header>'
            f'<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>'
            f'<s:Value>{subcode}</s:Value></s:Subcode></s:Code><s:Reason>'
            f'<s:Text xml:lang="en">{reason}</s:Text></s:Reason><s:Detail>{fd}</s:Detail>'
            f'</s:Fault></s:Body></s:Envelope>')


def instance(relates_to, uri, cls, props):
    """A Get reply with one instance (OpenWSMAN's style of envelope)."""
    body = "".join(f"<p:{k}>{v}</p:{k}>" for k, v in props.items())
    return (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing">'
            f'<s:Header><wsa:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/'
            f'GetResponse</wsa:Action><wsa:RelatesTo>{relates_to}</wsa:RelatesTo>'
            f'</s:Header><s:Body><p:{cls} xmlns:p="{uri}">{body}</p:{cls}></s:Body>'
            f'</s:Envelope>')
