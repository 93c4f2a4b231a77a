/* Configuration: defaults, the command line and a key = value file. */
#ifndef WSMD_CONFIG_H
#define WSMD_CONFIG_H

#include "server.h"

/* A listener URL without a port: winrm/config/service/defaultports. */
#define WSMD_DEFAULT_HTTP_PORT 5985
#define WSMD_DEFAULT_HTTPS_PORT 5986

void wsmd__config_defaults(struct wsmd_config *cfg);
void wsmd__config_clear(struct wsmd_config *cfg);
/* URL like http://127.0.0.1:5985, https://[::1]:5986 or http://0.0.0.0:5985/wsman */
enum wsm_err wsmd__config_add_listener(struct wsmd_config *cfg, const char *url);
/* One setting by its winrm/config name (MaxEnvelopeSize, AllowUnencrypted,
 * Listen, Users, PamService, Threads, MaxConnections, CertificateFile,
 * KeyFile; Keytab, KerberosRealm, ServicePrincipal, CbtHardeningLevel;
 * ClientCAFile, CertMapping (repeatable; see certauth.h);
 * MaxConnectionsPerAddress, HeaderTimeoutms, BodyTimeoutms,
 * MaxAnonymousEnvelopeSize (connguard.h); LogLevel (log.h)).
 * WSM_ERR_NOT_FOUND for an unknown key, another error for a bad value. */
enum wsm_err wsmd__config_set(struct wsmd_config *cfg, const char *key, const char *value);
/* Lines "Key = value"; '#' starts a comment. A wrong line is named on stderr
 * ("FILE:LINE: unknown key \"K\"" or "bad value for K: \"V\""). */
enum wsm_err wsmd__config_load(struct wsmd_config *cfg, const char *path);
/* With an https listener: reads and checks CertificateFile and KeyFile (a
 * key readable by other users is refused). Says why on stderr. */
enum wsm_err wsmd__config_load_tls(struct wsmd_config *cfg);

#endif
