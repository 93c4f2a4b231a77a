/* Namespace URIs and the prefixes we write them with. */
#ifndef WSM_NS_H
#define WSM_NS_H

#define WSM_NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define WSM_NS_SOAP11 "http://schemas.xmlsoap.org/soap/envelope/"
#define WSM_NS_WSA "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define WSM_NS_WSMAN "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define WSM_NS_MSWSMAN "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
#define WSM_NS_WSEN "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
#define WSM_NS_WSXF "http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define WSM_NS_WSEV "http://schemas.xmlsoap.org/ws/2004/08/eventing"
#define WSM_NS_SHELL "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
#define WSM_NS_CFG "http://schemas.microsoft.com/wbem/wsman/1/config"
#define WSM_NS_IDENTITY "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
#define WSM_NS_FAULT "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
#define WSM_NS_XSI "http://www.w3.org/2001/XMLSchema-instance"

#define WSM_ADDR_ANONYMOUS "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
#define WSM_ACTION_WSMAN_FAULT "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
#define WSM_ACTION_WSA_FAULT "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"

#endif
