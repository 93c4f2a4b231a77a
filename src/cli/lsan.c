/* Under AddressSanitizer only: what LeakSanitizer should not report in
 * winrm and winrs. gss-ntlmssp and MIT krb5 (loaded for Negotiate) leak
 * OpenSSL and GSSAPI objects of their own, which are not ours to free. */
#if defined(__SANITIZE_ADDRESS__)
#define WSM_CLI_LSAN_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSM_CLI_LSAN_HOOK 1
#endif
#endif

#ifdef WSM_CLI_LSAN_HOOK
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:gssntlmssp.so\nleak:libgssapi_krb5.so\nleak:libkrb5.so\nleak:libk5crypto.so\n"
           "leak:libcrypto.so\n";
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int wsm_cli_lsan_unused;
#endif
