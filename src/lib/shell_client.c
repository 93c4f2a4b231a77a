/* libwsm client: the WinRS remote shell ([MS-WSMV] 3.1.4.1.x) on the
 * resource http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd:
 * Transfer Create and Delete of the shell, Command, Send, Receive, Signal.
 *
 * Receive is where the bytes are. Its replies are read in one streaming
 * pass (SAX: the base64 text of rsp:Stream never becomes a tree node),
 * and with the session setting "ReceiveAhead" a shell fetches the next
 * reply on a second connection while the caller consumes the current one.
 * docs/internals/client-transport.md has the design and the numbers.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "ns.h"
#include "xmlctxt.h"
#include "uuid.h"
#include "wsm/wsm.h"

#define SHELL_RESOURCE WSM_NS_SHELL "/cmd"
#define ACTION_CREATE WSM_NS_WSXF "/Create"
#define ACTION_DELETE WSM_NS_WSXF "/Delete"
#define ACTION_COMMAND WSM_NS_SHELL "/Command"
#define ACTION_SEND WSM_NS_SHELL "/Send"
#define ACTION_RECEIVE WSM_NS_SHELL "/Receive"
#define ACTION_SIGNAL WSM_NS_SHELL "/Signal"
#define SIGNAL_PREFIX WSM_NS_SHELL "/signal/"
/* WSManFault code of a Receive that saw no output within OperationTimeout
 * (ERROR_WSMAN_OPERATION_TIMEDOUT). */
#define FAULT_TIMED_OUT 2150858793UL

/* Replies fetched ahead that may wait at once (the one the caller is
 * consuming included). */
#define AHEAD_SLOTS 3
/* The size of a reply after which the next ones are fetched ahead. */
#define AHEAD_MIN_REPLY (64 * 1024)

struct rx;
struct ahead;

struct wsm_shell {
    wsm_session *s;
    char *id;
    struct rx *rx;       /* Receive parsing state, made on first use */
    struct ahead *ahead; /* the fetcher of Receive replies, if started */
};

/* Appends to a buffer; the first error sticks in e and later calls do
 * nothing, so a message is written as a plain sequence of calls. */
#define PUT(x)                                                                                     \
    do {                                                                                           \
        if (!e)                                                                                    \
            e = (x);                                                                               \
    } while (0)

static enum wsm_err put_duration(struct wsm_buf *b, long ms)
{
    return wsm__buf_printf(b, "PT%ld.%03ldS", ms / 1000, ms % 1000);
}

/* The envelope up to and including the SelectorSet (when shell_id is not
 * NULL); the caller adds an OptionSet if it wants, then calls body(). */
static enum wsm_err begin(struct wsm_buf *b, const wsm_session *s, const char *action,
                          const char *shell_id, const char *msgid)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_puts(b, "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
                         "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:p=\"" WSM_NS_MSWSMAN
                         "\" xmlns:rsp=\"" WSM_NS_SHELL "\"><s:Header><a:To>"));
    PUT(wsm__buf_xml(b, s->url));
    PUT(wsm__buf_puts(b,
                      "</a:To><a:ReplyTo><a:Address s:mustUnderstand=\"true\">" WSM_ADDR_ANONYMOUS
                      "</a:Address></a:ReplyTo><a:Action s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, action));
    PUT(wsm__buf_puts(b, "</a:Action><a:MessageID>"));
    PUT(wsm__buf_xml(b, msgid));
    PUT(wsm__buf_puts(b, "</a:MessageID><w:ResourceURI s:mustUnderstand=\"true\">" SHELL_RESOURCE
                         "</w:ResourceURI><w:MaxEnvelopeSize s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_printf(b, "%zu", s->max_envelope));
    PUT(wsm__buf_puts(b, "</w:MaxEnvelopeSize><w:OperationTimeout>"));
    PUT(put_duration(b, s->operation_timeout_ms));
    PUT(wsm__buf_puts(b, "</w:OperationTimeout>"
                         "<w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"
                         "<p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"));
    if (shell_id) {
        PUT(wsm__buf_puts(b, "<w:SelectorSet><w:Selector Name=\"ShellId\">"));
        PUT(wsm__buf_xml(b, shell_id));
        PUT(wsm__buf_puts(b, "</w:Selector></w:SelectorSet>"));
    }
    return e;
}

static enum wsm_err put_option(struct wsm_buf *b, const char *name, const char *value)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_puts(b, "<w:Option Name=\""));
    PUT(wsm__buf_xml(b, name));
    PUT(wsm__buf_puts(b, "\">"));
    PUT(wsm__buf_xml(b, value));
    PUT(wsm__buf_puts(b, "</w:Option>"));
    return e;
}

/* Depth-first search of the first element below n for which match() holds. */
static xmlNodePtr find_element(xmlNodePtr n, int (*match)(const xmlNode *))
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (match(c))
            return c;
        xmlNodePtr r = find_element(c, match);
        if (r)
            return r;
    }
    return NULL;
}

static int is_shell_id_selector(const xmlNode *n)
{
    const char *name = wsm__xml_attr(n, "Name");
    return name && strcmp(name, "ShellId") == 0;
}

static int is_shell_id(const xmlNode *n)
{
    return wsm__xml_is(n, WSM_NS_SHELL, "ShellId");
}

static int is_command_id(const xmlNode *n)
{
    return wsm__xml_is(n, WSM_NS_SHELL, "CommandId");
}

/* The trimmed text of n as a malloc'd string; NULL if empty. */
static char *dup_text(struct wsm_envelope *env, const xmlNode *n)
{
    const char *t = n ? wsm__xml_text(&env->arena, n, 1) : NULL;
    return t && *t ? strdup(t) : NULL;
}

static enum wsm_err new_handle(wsm_session *s, const char *id, wsm_shell **out)
{
    wsm_shell *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return WSM_ERR_NOMEM;
    sh->s = s;
    sh->id = strdup(id);
    if (!sh->id) {
        free(sh);
        return WSM_ERR_NOMEM;
    }
    *out = sh;
    return WSM_OK;
}

enum wsm_err wsm_shell_create(wsm_session *s, const struct wsm_shell_opts *o, wsm_shell **out)
{
    static const struct wsm_shell_opts defaults;
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!s || !out)
        return WSM_ERR_INVALID_ARG;
    *out = NULL;
    if (!o)
        o = &defaults;
    for (const char *const *v = o->env; v && *v; v++)
        if (!strchr(*v, '=') || **v == '=')
            return WSM_ERR_INVALID_ARG;

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, s, ACTION_CREATE, NULL, msgid);
    PUT(wsm__buf_puts(&b, "<w:OptionSet>"));
    PUT(put_option(&b, "WINRS_NOPROFILE", o->noprofile ? "TRUE" : "FALSE"));
    PUT(put_option(&b, "WINRS_CODEPAGE", o->codepage ? o->codepage : "437"));
    PUT(wsm__buf_puts(&b, "</w:OptionSet></s:Header><s:Body><rsp:Shell>"));
    /* The order of the Shell type's sequence ([MS-WSMV] 2.2.4.37). */
    if (o->env && o->env[0]) {
        PUT(wsm__buf_puts(&b, "<rsp:Environment>"));
        for (const char *const *v = o->env; *v; v++) {
            const char *eq = strchr(*v, '=');
            PUT(wsm__buf_puts(&b, "<rsp:Variable Name=\""));
            PUT(wsm__buf_xmln(&b, *v, (size_t)(eq - *v)));
            PUT(wsm__buf_puts(&b, "\">"));
            PUT(wsm__buf_xml(&b, eq + 1));
            PUT(wsm__buf_puts(&b, "</rsp:Variable>"));
        }
        PUT(wsm__buf_puts(&b, "</rsp:Environment>"));
    }
    if (o->workdir) {
        PUT(wsm__buf_puts(&b, "<rsp:WorkingDirectory>"));
        PUT(wsm__buf_xml(&b, o->workdir));
        PUT(wsm__buf_puts(&b, "</rsp:WorkingDirectory>"));
    }
    if (o->idle_timeout_ms > 0) {
        PUT(wsm__buf_puts(&b, "<rsp:IdleTimeOut>"));
        PUT(put_duration(&b, o->idle_timeout_ms));
        PUT(wsm__buf_puts(&b, "</rsp:IdleTimeOut>"));
    }
    PUT(wsm__buf_puts(&b, "<rsp:InputStreams>stdin</rsp:InputStreams>"
                          "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
                          "</rsp:Shell></s:Body></s:Envelope>"));
    if ((e = wsm__post_built(s, &b, e, msgid, &env)))
        return e;

    /* As pywinrm: the first element anywhere with Name="ShellId" (the
     * Selector in x:ResourceCreated), else rsp:ShellId in the body. */
    xmlNodePtr root = xmlDocGetRootElement(env->doc);
    xmlNodePtr n = find_element(root, is_shell_id_selector);
    if (!n)
        n = find_element(env->body, is_shell_id);
    char *id = dup_text(env, n);
    wsm__envelope_free(env);
    if (!id) {
        wsm__session_errorf(s, "the Create reply carries no ShellId");
        return WSM_ERR_NOT_SOAP;
    }
    e = new_handle(s, id, out);
    free(id);
    return e;
}

enum wsm_err wsm_shell_open(wsm_session *s, const char *shell_id, wsm_shell **out)
{
    if (!s || !shell_id || !*shell_id || !out)
        return WSM_ERR_INVALID_ARG;
    return new_handle(s, shell_id, out);
}

static void ahead_free(wsm_shell *sh);
static void rx_free(struct rx *rx);

void wsm_shell_free(wsm_shell *sh)
{
    if (!sh)
        return;
    ahead_free(sh);
    rx_free(sh->rx);
    free(sh->id);
    free(sh);
}

const char *wsm_shell_id(const wsm_shell *sh)
{
    return sh ? sh->id : NULL;
}

enum wsm_err wsm_shell_run(wsm_shell *sh, const char *command, const char *const *args,
                           char **command_id)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!sh || !command || !command_id)
        return WSM_ERR_INVALID_ARG;
    *command_id = NULL;
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_COMMAND, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "<w:OptionSet>"));
    PUT(put_option(&b, "WINRS_CONSOLEMODE_STDIN", "TRUE"));
    PUT(put_option(&b, "WINRS_SKIP_CMD_SHELL", "FALSE"));
    PUT(wsm__buf_puts(&b, "</w:OptionSet></s:Header><s:Body><rsp:CommandLine><rsp:Command>"));
    PUT(wsm__buf_xml(&b, command));
    PUT(wsm__buf_puts(&b, "</rsp:Command>"));
    for (const char *const *a = args; a && *a; a++) {
        PUT(wsm__buf_puts(&b, "<rsp:Arguments>"));
        PUT(wsm__buf_xml(&b, *a));
        PUT(wsm__buf_puts(&b, "</rsp:Arguments>"));
    }
    PUT(wsm__buf_puts(&b, "</rsp:CommandLine></s:Body></s:Envelope>"));
    if ((e = wsm__post_built(sh->s, &b, e, msgid, &env)))
        return e;

    xmlNodePtr r = wsm__xml_child(env->body, WSM_NS_SHELL, "CommandResponse");
    xmlNodePtr n = wsm__xml_child(r, WSM_NS_SHELL, "CommandId");
    if (!n)
        n = find_element(env->body, is_command_id);
    *command_id = dup_text(env, n);
    wsm__envelope_free(env);
    if (!*command_id) {
        wsm__session_errorf(sh->s, "the Command reply carries no CommandId");
        return WSM_ERR_NOT_SOAP;
    }
    return WSM_OK;
}

enum wsm_err wsm_shell_send(wsm_shell *sh, const char *command_id, const void *data, size_t len,
                            int end)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!sh || !command_id || (len && !data))
        return WSM_ERR_INVALID_ARG;
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_SEND, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body><rsp:Send><rsp:Stream Name=\"stdin\" CommandId=\""));
    PUT(wsm__buf_xml(&b, command_id));
    PUT(wsm__buf_puts(&b, end ? "\" End=\"true\">" : "\">"));
    size_t n64 = wsm__base64_enclen(len);
    PUT(wsm__buf_reserve(&b, n64));
    if (!e) {
        wsm__base64_encode(data, len, b.data + b.len);
        b.len += n64;
    }
    PUT(wsm__buf_puts(&b, "</rsp:Stream></rsp:Send></s:Body></s:Envelope>"));
    if ((e = wsm__post_built(sh->s, &b, e, msgid, &env)))
        return e;
    wsm__envelope_free(env);
    return WSM_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void build_receive(struct wsm_buf *b, wsm_session *s, const char *shell_id,
                          const char *command_id, const char *msgid, enum wsm_err *err)
{
    enum wsm_err e = begin(b, s, ACTION_RECEIVE, shell_id, msgid);
    PUT(wsm__buf_puts(b, "</s:Header><s:Body><rsp:Receive><rsp:DesiredStream CommandId=\""));
    PUT(wsm__buf_xml(b, command_id));
    PUT(wsm__buf_puts(b, "\">stdout stderr</rsp:DesiredStream></rsp:Receive></s:Body>"
                         "</s:Envelope>"));
    *err = e;
}

/* The body cap of a Receive reply: it never exceeds the MaxEnvelopeSize
 * we ask for; 64 KiB of slack for what sits around the envelope. */
static size_t receive_cap(const wsm_session *s)
{
    return s->max_envelope + 65536;
}

/* ---- Receive replies: the tree path ---------------------------------- */

/* One rsp:Stream of a ReceiveResponse: decode and hand to the callback. */
static enum wsm_err deliver(wsm_shell *sh, struct wsm_envelope *env, const xmlNode *st,
                            const char *command_id, struct wsm_receive *r)
{
    const char *name = wsm__xml_attr(st, "Name");
    const char *cid = wsm__xml_attr(st, "CommandId");
    void (*cb)(void *, const void *, size_t) = NULL;

    if (cid && strcasecmp(cid, command_id) != 0)
        return WSM_OK; /* another command's output */
    if (name && strcmp(name, "stdout") == 0)
        cb = r->on_stdout;
    else if (name && strcmp(name, "stderr") == 0)
        cb = r->on_stderr;
    const char *t = wsm__xml_text(&env->arena, st, 1);
    if (!t)
        return WSM_ERR_NOMEM;
    size_t tl = strlen(t);
    if (!tl || !cb)
        return WSM_OK;
    size_t cap = tl / 4 * 3 + 3, n = 0;
    unsigned char *p = malloc(cap);
    if (!p)
        return WSM_ERR_NOMEM;
    enum wsm_err e = wsm__base64_decode(t, tl, p, cap, &n);
    if (e) {
        wsm__session_errorf(sh->s, "bad base64 in the %s stream", name);
        free(p);
        return e;
    }
    if (n)
        cb(r->ud, p, n);
    free(p);
    return WSM_OK;
}

/* A parsed ReceiveResponse (the general case; see receive_reply). */
static enum wsm_err receive_tree(wsm_shell *sh, struct wsm_envelope *env, const char *command_id,
                                 struct wsm_receive *r)
{
    enum wsm_err e = WSM_OK;
    xmlNodePtr resp = wsm__xml_child(env->body, WSM_NS_SHELL, "ReceiveResponse");
    if (!resp) {
        wsm__session_errorf(sh->s, "the reply is not a ReceiveResponse");
        return WSM_ERR_NOT_SOAP;
    }
    for (xmlNodePtr n = wsm__xml_child(resp, NULL, NULL); n && !e;
         n = wsm__xml_next(n, NULL, NULL)) {
        if (wsm__xml_is(n, WSM_NS_SHELL, "Stream")) {
            e = deliver(sh, env, n, command_id, r);
        } else if (wsm__xml_is(n, WSM_NS_SHELL, "CommandState")) {
            const char *cid = wsm__xml_attr(n, "CommandId");
            const char *state = wsm__xml_attr(n, "State");
            if ((cid && strcasecmp(cid, command_id) != 0) || !state || !ends_with(state, "/Done"))
                continue;
            r->done = 1;
            r->exit_code = 0;
            xmlNodePtr x = wsm__xml_child(n, WSM_NS_SHELL, "ExitCode");
            const char *t = x ? wsm__xml_text(&env->arena, x, 1) : NULL;
            if (t && *t) {
                char *end;
                long long v = strtoll(t, &end, 10);
                /* A Windows exit code is a DWORD: keep its low 32 bits. */
                if (!*end)
                    r->exit_code = (int)(unsigned int)(unsigned long long)v;
            }
        }
    }
    return e;
}

/* ---- base64 of the streams: strict, streaming, fast ------------------
 *
 * What Receive replies carry is canonical base64: the alphabet in whole
 * quanta, '=' only in the last one, no line breaks. This decoder takes
 * exactly that, as the text arrives in pieces (no copy of the text), with
 * AVX2 where the CPU has it (about ten times wsm__base64_decode's speed).
 * Anything else -- whitespace, a missing '=', a bad character, nonzero pad
 * bits -- it refuses, and the reply goes to the tree path, where
 * wsm__base64_decode has the last word, as it always had. */

struct b64s {
    unsigned char carry[4]; /* a quantum split between two pieces */
    int ncarry;
    int ended; /* a padded quantum was seen: nothing may follow */
};

static unsigned char b64_dec[256]; /* 0..63, 0xff: not in the alphabet */
static int b64_have_avx2;
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_init(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(b64_dec, 0xff, sizeof(b64_dec));
    for (int i = 0; i < 64; i++)
        b64_dec[(unsigned char)alphabet[i]] = (unsigned char)i;
    b64_have_avx2 = wsm__cpu_has_avx2(); /* detected on first use (base64.c) */
}

#if defined(__x86_64__) || defined(__i386__)
/* Whole 32-character blocks of the alphabet (W. Mula and D. Lemire,
 * "Faster Base64 Encoding and Decoding Using AVX2 Instructions", 2018:
 * validation by nibble lookup, then pack with multiply-adds). Stops before
 * the first block with any other character; *used says how far it got.
 * Stores 32 bytes for each 24 it decodes: out needs 8 bytes of slack. */
__attribute__((target("avx2"))) static size_t b64_avx2(const unsigned char *s, size_t n,
                                                       unsigned char *out, size_t *used)
{
    const __m256i shift_lut =
        _mm256_setr_epi8(0, 0, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 19, 4, -65,
                         -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    /* For each low nibble, the high nibbles that make an alphabet character. */
    const __m256i mask_lut = _mm256_setr_epi8(
        (char)0xa8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8,
        (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf0, 0x54, 0x50, 0x50, 0x50, 0x54, (char)0xa8,
        (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8,
        (char)0xf8, (char)0xf8, (char)0xf0, 0x54, 0x50, 0x50, 0x50, 0x54);
    const __m256i bit_lut =
        _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16,
                         32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i slash = _mm256_set1_epi8(0x2f);
    const __m256i shuf = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2,
                                          1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i perm = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
    size_t i = 0, o = 0;
    while (i + 32 <= n) {
        __m256i in = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
        __m256i hi = _mm256_and_si256(_mm256_srli_epi32(in, 4), nibble);
        __m256i lo = _mm256_and_si256(in, nibble);
        __m256i ok =
            _mm256_and_si256(_mm256_shuffle_epi8(mask_lut, lo), _mm256_shuffle_epi8(bit_lut, hi));
        if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(ok, _mm256_setzero_si256())))
            break;
        __m256i sh = _mm256_shuffle_epi8(shift_lut, hi);
        sh = _mm256_blendv_epi8(sh, _mm256_set1_epi8(16), _mm256_cmpeq_epi8(in, slash));
        __m256i v = _mm256_add_epi8(in, sh);
        v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
        v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
        v = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, shuf), perm);
        _mm256_storeu_si256((__m256i *)(void *)(out + o), v);
        i += 32;
        o += 24;
    }
    *used = i;
    return o;
}
#endif

/* Whole quanta of the alphabet; stops before anything else. */
static size_t b64_scalar(const unsigned char *s, size_t n, unsigned char *out, size_t *used)
{
    size_t i = 0, o = 0;
    while (i + 4 <= n) {
        unsigned a = b64_dec[s[i]], b = b64_dec[s[i + 1]], c = b64_dec[s[i + 2]],
                 d = b64_dec[s[i + 3]];
        if ((a | b | c | d) > 63)
            break;
        unsigned v = a << 18 | b << 12 | c << 6 | d;
        out[o] = (unsigned char)(v >> 16);
        out[o + 1] = (unsigned char)(v >> 8);
        out[o + 2] = (unsigned char)v;
        i += 4;
        o += 3;
    }
    *used = i;
    return o;
}

/* One quantum: 3 bytes, or 1 or 2 for a padded last one; -1 if it is
 * neither. */
static int b64_quantum(const unsigned char *q, unsigned char *out, int *ended)
{
    unsigned a = b64_dec[q[0]], b = b64_dec[q[1]], c = b64_dec[q[2]], d = b64_dec[q[3]];
    if ((a | b | c | d) <= 63) {
        unsigned v = a << 18 | b << 12 | c << 6 | d;
        out[0] = (unsigned char)(v >> 16);
        out[1] = (unsigned char)(v >> 8);
        out[2] = (unsigned char)v;
        return 3;
    }
    if (a > 63 || b > 63 || q[3] != '=')
        return -1;
    *ended = 1;
    if (q[2] == '=') {
        if (b & 15)
            return -1;
        out[0] = (unsigned char)(a << 2 | b >> 4);
        return 1;
    }
    if (c > 63 || (c & 3))
        return -1;
    out[0] = (unsigned char)(a << 2 | b >> 4);
    out[1] = (unsigned char)((b & 15) << 4 | c >> 2);
    return 2;
}

/* Decodes the next n characters onto out; -1: not canonical base64. */
static int b64_feed(struct b64s *st, const unsigned char *s, size_t n, struct wsm_buf *out)
{
    if (!n)
        return 0;
    if (st->ended || wsm__buf_reserve(out, n / 4 * 3 + 3 + 32) != WSM_OK)
        return -1;
    unsigned char *o = (unsigned char *)out->data + out->len;
    size_t i = 0, used = 0;
    int k;
    if (st->ncarry) {
        while (st->ncarry < 4 && i < n)
            st->carry[st->ncarry++] = s[i++];
        if (st->ncarry < 4)
            return 0;
        if ((k = b64_quantum(st->carry, o, &st->ended)) < 0 || (st->ended && i < n))
            return -1;
        o += k;
        st->ncarry = 0;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (b64_have_avx2 && n - i >= 32) {
        o += b64_avx2(s + i, n - i, o, &used);
        i += used;
    }
#endif
    o += b64_scalar(s + i, n - i, o, &used);
    i += used;
    if (n - i >= 4) {
        /* Not a whole quantum of the alphabet: the padded last one, or
         * not canonical. */
        if ((k = b64_quantum(s + i, o, &st->ended)) < 0 || !st->ended || i + 4 < n)
            return -1;
        o += k;
        i += 4;
    }
    if (i < n) {
        memcpy(st->carry, s + i, n - i);
        st->ncarry = (int)(n - i);
    }
    out->len = (size_t)(o - (unsigned char *)out->data);
    out->data[out->len] = '\0';
    return 0;
}

/* ---- Receive replies: the streaming path ------------------------------
 *
 * An ordinary ReceiveResponse is read with SAX callbacks and no tree: the
 * base64 text of each rsp:Stream is decoded as the parser hands it over,
 * instead of becoming a text node that is then copied (twice), measured
 * (twice) and decoded. Anything out of the
 * ordinary -- a fault, a header that the envelope reader would check or
 * refuse, malformed XML, bad base64, an attribute with a character
 * reference -- makes the pass give up ("fallback") and the reply goes
 * through wsm__reply_check and receive_tree like any other, so errors and
 * odd cases behave exactly as they always did. */

enum kind {
    K_DOC,
    K_OTHER,
    K_ENVELOPE,
    K_HEADER,
    K_BODY,
    K_RELATES,
    K_RESPONSE,
    K_STREAM,
    K_STATE,      /* a CommandState that tells our command is Done */
    K_STATE_SKIP, /* any other CommandState */
    K_EXITCODE,
    K_FALLBACK, /* (header_kind: the tree path must see this reply) */
};

struct seg {
    int which; /* 1 stdout, 2 stderr */
    size_t off, len;
};

struct rx {
    xmlParserCtxtPtr ctxt;
    struct wsm_buf out; /* the decoded bytes of the reply's streams */
    struct seg *segs;   /* where each stream's bytes are in out */
    size_t nsegs, segcap;
    struct wsm_buf reply; /* the body of a synchronous Receive's reply */
};

struct pass {
    struct rx *rx;
    const char *cid;
    const struct wsm_receive *r;
    int depth;
    int fallback;
    unsigned char kind[WSM_DEFAULT_MAX_DEPTH + 2];
    int seen_header, seen_body, seen_response;
    unsigned header_slots; /* which single-valued headers were seen */
    int which;             /* the current stream's: 0 when it is not decoded */
    size_t stream_start;   /* where its bytes start in rx->out */
    struct b64s b64;
    int state_has_exit; /* the counting CommandState had its ExitCode */
    char relates[128];
    size_t relates_len;
    int relates_seen;
    char exitcode[40];
    size_t exit_len;
    int done, exit_code;
};

static void pass_fallback(xmlParserCtxtPtr c, struct pass *p)
{
    p->fallback = 1;
    xmlStopParser(c);
}

/* The value of attribute name (any namespace) as (v, n); 0 if absent.
 * A value with '&' (a character reference kept undecoded) is -1. */
static int sax_attr(int nb, const xmlChar **attrs, const char *name, const char **v, size_t *n)
{
    *v = "";
    *n = 0;
    for (int i = 0; i < nb; i++) {
        const xmlChar **a = attrs + 5 * i;
        if (strcmp((const char *)a[0], name) != 0)
            continue;
        *v = (const char *)a[3];
        *n = (size_t)(a[4] - a[3]);
        return memchr(*v, '&', *n) ? -1 : 1;
    }
    return 0;
}

static int eqn(const char *v, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(v, s, n) == 0;
}

static int ns_is(const xmlChar *uri, const char *ns)
{
    return uri && strcmp((const char *)uri, ns) == 0;
}

/* A header element: what read_headers in envelope.c would do with it
 * beyond storing it sends the reply to the tree path. */
static enum kind header_kind(struct pass *p, const char *name, const xmlChar *uri, int nb,
                             const xmlChar **attrs)
{
    static const char *const wsa[] = {"To", "Action", "MessageID", "RelatesTo"};
    static const char *const wsman[] = {"ResourceURI", "FragmentTransfer"};
    int known = 0, slot = -1;
    if (ns_is(uri, WSM_NS_WSA)) {
        for (int i = 0; i < 4; i++)
            if (strcmp(name, wsa[i]) == 0)
                slot = i;
        if (strcmp(name, "ReplyTo") == 0)
            return K_FALLBACK;
        known = slot >= 0 || strcmp(name, "FaultTo") == 0 || strcmp(name, "From") == 0;
    } else if (ns_is(uri, WSM_NS_WSMAN)) {
        for (int i = 0; i < 2; i++)
            if (strcmp(name, wsman[i]) == 0)
                slot = 4 + i;
        if (slot < 0 && strcmp(name, "RequestTotalItemsCountEstimate") != 0)
            return K_FALLBACK; /* SelectorSet, OperationTimeout...: checked there */
        known = slot >= 0;
    } else if (ns_is(uri, WSM_NS_MSWSMAN)) {
        known = 1;
    }
    if (slot >= 0) {
        if (p->header_slots & (1u << slot))
            return K_FALLBACK; /* duplicated: BAD_HEADER there */
        p->header_slots |= 1u << slot;
    }
    const char *v = "";
    size_t n = 0;
    int mu = sax_attr(nb, attrs, "mustUnderstand", &v, &n);
    if (mu < 0 || (!known && mu > 0 && (eqn(v, n, "true") || eqn(v, n, "1"))))
        return K_FALLBACK;
    return slot == 3 ? K_RELATES : K_OTHER;
}

static void sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                      const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                      int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    (void)prefix;
    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_defaulted;
    xmlParserCtxtPtr c = ctx;
    struct pass *p = c->_private;
    const char *name = (const char *)localname;
    if (p->fallback)
        return;
    if (++p->depth > WSM_DEFAULT_MAX_DEPTH) {
        pass_fallback(c, p);
        return;
    }
    enum kind parent = (enum kind)p->kind[p->depth - 1], k = K_OTHER;
    const char *v = "";
    size_t n = 0;
    switch (parent) {
    case K_DOC:
        if (!ns_is(uri, WSM_NS_SOAP) || strcmp(name, "Envelope") != 0) {
            pass_fallback(c, p);
            return;
        }
        k = K_ENVELOPE;
        break;
    case K_ENVELOPE:
        if (ns_is(uri, WSM_NS_SOAP) && !p->seen_header && strcmp(name, "Header") == 0) {
            p->seen_header = 1;
            k = K_HEADER;
        } else if (ns_is(uri, WSM_NS_SOAP) && !p->seen_body && strcmp(name, "Body") == 0) {
            p->seen_body = 1;
            k = K_BODY;
        }
        break;
    case K_HEADER:
        k = header_kind(p, name, uri, nb_attributes, attributes);
        if (k == K_FALLBACK) {
            pass_fallback(c, p);
            return;
        }
        if (k == K_RELATES)
            p->relates_seen = 1;
        break;
    case K_BODY:
        if (ns_is(uri, WSM_NS_SOAP) && strcmp(name, "Fault") == 0) {
            pass_fallback(c, p);
            return;
        }
        if (ns_is(uri, WSM_NS_SHELL) && !p->seen_response && strcmp(name, "ReceiveResponse") == 0) {
            p->seen_response = 1;
            k = K_RESPONSE;
        }
        break;
    case K_RESPONSE:
        if (!ns_is(uri, WSM_NS_SHELL))
            break;
        if (strcmp(name, "Stream") == 0) {
            int an = sax_attr(nb_attributes, attributes, "CommandId", &v, &n);
            const char *nv = "";
            size_t nn = 0;
            int nm = sax_attr(nb_attributes, attributes, "Name", &nv, &nn);
            if (an < 0 || nm < 0) {
                pass_fallback(c, p);
                return;
            }
            p->which = 0;
            if (!an || (strlen(p->cid) == n && strncasecmp(v, p->cid, n) == 0)) {
                if (nm && eqn(nv, nn, "stdout") && p->r->on_stdout)
                    p->which = 1;
                else if (nm && eqn(nv, nn, "stderr") && p->r->on_stderr)
                    p->which = 2;
            }
            p->stream_start = p->rx->out.len;
            memset(&p->b64, 0, sizeof(p->b64));
            k = K_STREAM;
        } else if (strcmp(name, "CommandState") == 0) {
            int an = sax_attr(nb_attributes, attributes, "CommandId", &v, &n);
            const char *sv = "";
            size_t sn = 0;
            int st = sax_attr(nb_attributes, attributes, "State", &sv, &sn);
            if (an < 0 || st < 0) {
                pass_fallback(c, p);
                return;
            }
            int ours = !an || (strlen(p->cid) == n && strncasecmp(v, p->cid, n) == 0);
            if (ours && st && sn >= 5 && memcmp(sv + sn - 5, "/Done", 5) == 0) {
                p->done = 1;
                p->exit_code = 0;
                p->state_has_exit = 0;
                k = K_STATE;
            } else {
                k = K_STATE_SKIP;
            }
        }
        break;
    case K_STATE:
        if (ns_is(uri, WSM_NS_SHELL) && !p->state_has_exit && strcmp(name, "ExitCode") == 0) {
            p->state_has_exit = 1;
            p->exit_len = 0;
            k = K_EXITCODE;
        }
        break;
    default:
        break;
    }
    p->kind[p->depth] = (unsigned char)k;
}

static enum wsm_err add_seg(struct rx *rx, int which, size_t off, size_t len)
{
    if (rx->nsegs == rx->segcap) {
        size_t n = rx->segcap ? rx->segcap * 2 : 8;
        struct seg *g = realloc(rx->segs, n * sizeof(*g));
        if (!g)
            return WSM_ERR_NOMEM;
        rx->segs = g;
        rx->segcap = n;
    }
    rx->segs[rx->nsegs++] = (struct seg){which, off, len};
    return WSM_OK;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_space((*s)[*n - 1]))
        (*n)--;
}

static void sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void)localname;
    (void)prefix;
    (void)uri;
    xmlParserCtxtPtr c = ctx;
    struct pass *p = c->_private;
    if (p->fallback)
        return;
    enum kind k = (enum kind)p->kind[p->depth];
    p->depth--;
    if (k == K_STREAM && p->which) {
        struct rx *rx = p->rx;
        size_t n = rx->out.len - p->stream_start;
        if (p->b64.ncarry || (n && add_seg(rx, p->which, p->stream_start, n))) {
            pass_fallback(c, p); /* the tree path says what is wrong */
            return;
        }
    } else if (k == K_EXITCODE) {
        const char *t = p->exitcode;
        size_t n = p->exit_len;
        trim(&t, &n);
        if (n) {
            char num[sizeof(p->exitcode) + 1], *end;
            memcpy(num, t, n);
            num[n] = '\0';
            long long v = strtoll(num, &end, 10);
            if (!*end)
                p->exit_code = (int)(unsigned int)(unsigned long long)v;
        }
    }
}

static void sax_text(void *ctx, const xmlChar *ch, int len)
{
    xmlParserCtxtPtr c = ctx;
    struct pass *p = c->_private;
    if (p->fallback || len <= 0)
        return;
    size_t n = (size_t)len;
    switch ((enum kind)p->kind[p->depth]) {
    case K_STREAM:
        if (p->which && b64_feed(&p->b64, ch, n, &p->rx->out) < 0)
            pass_fallback(c, p);
        break;
    case K_RELATES:
        if (n > sizeof(p->relates) - p->relates_len) {
            pass_fallback(c, p); /* too long to be ours: the tree path says so */
            return;
        }
        memcpy(p->relates + p->relates_len, ch, n);
        p->relates_len += n;
        break;
    case K_EXITCODE:
        if (n > sizeof(p->exitcode) - p->exit_len) {
            pass_fallback(c, p);
            return;
        }
        memcpy(p->exitcode + p->exit_len, ch, n);
        p->exit_len += n;
        break;
    default:
        break;
    }
}

static void sax_refuse_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    xmlParserCtxtPtr c = ctx;
    pass_fallback(c, c->_private);
}

static xmlParserCtxtPtr rx_ctxt(struct rx *rx)
{
    if (rx->ctxt)
        return rx->ctxt;
    xmlInitParser();
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (!c)
        return NULL;
    xmlSAXHandlerPtr h = c->sax;
    h->startElementNs = sax_start;
    h->endElementNs = sax_end;
    h->characters = sax_text;
    h->ignorableWhitespace = sax_text;
    h->cdataBlock = NULL;
    h->comment = NULL;
    h->processingInstruction = NULL;
    wsm__xmlsax_harden(c, sax_refuse_dtd);
    rx->ctxt = c;
    return c;
}

static void rx_free(struct rx *rx)
{
    if (!rx)
        return;
    if (rx->ctxt)
        xmlFreeParserCtxt(rx->ctxt);
    wsm__buf_free(&rx->out);
    wsm__buf_free(&rx->reply);
    free(rx->segs);
    free(rx);
}

#define RX_PARSE_OPTIONS                                                                           \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

/* One pass over a 200 reply. *fallback set: hand it to the tree path
 * (nothing was delivered). Otherwise the output went to the callbacks. */
static enum wsm_err rx_pass(wsm_shell *sh, const char *data, size_t len, const char *command_id,
                            const char *msgid, struct wsm_receive *r, int *fallback)
{
    struct rx *rx = sh->rx;
    *fallback = 1;
    if (len > INT32_MAX)
        return WSM_OK;
    xmlParserCtxtPtr c = rx_ctxt(rx);
    if (!c)
        return WSM_OK;
    struct pass pass, *p = &pass;
    memset(p, 0, sizeof(*p));
    p->rx = rx;
    p->cid = command_id;
    p->r = r;
    p->kind[0] = K_DOC;
    wsm__buf_reset(&rx->out);
    rx->nsegs = 0;
    /* One allocation for the decoded bytes, kept for the next reply. */
    if (rx->out.alloc < len / 4 * 3 + 64 && wsm__buf_reserve(&rx->out, len / 4 * 3 + 64) != WSM_OK)
        return WSM_OK;
    pthread_once(&b64_once, b64_init);
    c->_private = p;
    xmlDocPtr doc = xmlCtxtReadMemory(c, data, (int)len, NULL, NULL, RX_PARSE_OPTIONS);
    c->_private = NULL;
    if (doc)
        xmlFreeDoc(doc);
    int ok = !p->fallback && c->wellFormed && c->nsWellFormed && p->seen_body && p->seen_response &&
             p->depth == 0;
    if (ok && msgid) {
        const char *t = p->relates;
        size_t n = p->relates_len;
        trim(&t, &n);
        ok = p->relates_seen && strlen(msgid) == n && strncasecmp(t, msgid, n) == 0;
    }
    /* A context whose dictionary of names has grown is renewed. */
    if (c->dict && xmlDictSize(c->dict) > 4096) {
        xmlFreeParserCtxt(c);
        rx->ctxt = NULL;
    }
    if (!ok)
        return WSM_OK;
    *fallback = 0;
    for (size_t i = 0; i < rx->nsegs; i++) {
        const struct seg *g = &rx->segs[i];
        void (*cb)(void *, const void *, size_t) = g->which == 1 ? r->on_stdout : r->on_stderr;
        cb(r->ud, rx->out.data + g->off, g->len);
    }
    if (p->done) {
        r->done = 1;
        r->exit_code = p->exit_code;
    }
    return WSM_OK;
}

/* What a Receive reply (body, HTTP status) says, for the request msgid. */
static enum wsm_err receive_reply(wsm_shell *sh, const char *command_id, struct wsm_receive *r,
                                  const struct wsm_buf *body, long status, const char *msgid)
{
    wsm_session *s = sh->s;
    enum wsm_err e;
    if (status == 200) {
        int fallback = 1;
        e = rx_pass(sh, body->data, body->len, command_id, msgid, r, &fallback);
        if (!fallback)
            return e;
    }
    struct wsm_envelope *env = NULL;
    e = wsm__reply_check(s, body->data, body->len, status, msgid, &env);
    if (e == WSM_ERR_FAULT &&
        (s->fault_code == FAULT_TIMED_OUT || strcmp(s->fault_subcode, "TimedOut") == 0)) {
        s->error[0] = '\0';
        return WSM_OK; /* nothing yet: the caller asks again */
    }
    if (e)
        return e;
    e = receive_tree(sh, env, command_id, r);
    wsm__envelope_free(env);
    return e;
}

/* ---- Receive ahead -----------------------------------------------------
 *
 * With "ReceiveAhead", once a Receive reply says the command still runs,
 * a thread with a connection of its own sends the next Receive as soon as
 * that reply is in -- and the one after as soon as a slot is free -- while
 * the caller parses, decodes and writes. Each Receive is sent only after
 * the previous reply has fully arrived, so the service sees them in order
 * and the output stays in order. The fetchers stop after a reply that
 * looks final (CommandState Done), after any non-200 reply and after a
 * transport error; the caller consumes every fetched reply in order.
 *
 * When bodies are sealed (Negotiate over http://), unsealing a reply costs
 * about as much as the service's sealing of it, and a context is one
 * connection's: so two fetchers, each with its own connection and its own
 * security context (authenticated by its first request), take turns. The
 * next Receive goes out on the other connection as soon as a reply's
 * sealed bytes are in (a large one: a small one may be the last, and is
 * looked at first), while its own fetcher unseals it. */

struct slot {
    struct wsm_buf body;
    long status;
    enum wsm_err err; /* transport error (error says what) */
    char error[256];
    char msgid[WSM_UUID_STRLEN];
    int filled; /* a reply (or error) waits here for the caller */
};

struct ahead;

struct fetcher {
    struct ahead *a;
    struct wsm_conn *conn;
    pthread_t th;
    int running;   /* th not joined yet */
    int in_flight; /* a Receive is on its way on conn */
    unsigned long seq;
    int passed; /* the next Receive may go (on the other connection) */
};

struct ahead {
    wsm_shell *sh;
    char *cid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int nf;             /* fetchers in use: 1, or 2 when bodies are sealed */
    int stop;           /* the caller wants the threads to end */
    int halt;           /* no more Receives are sent */
    int claimed;        /* a fetcher is sending Receive number next */
    int pending;        /* Receives sent (or being sent) whose slot is not filled yet */
    unsigned long next; /* the number of the next Receive to send */
    unsigned long rd;   /* the number of the reply the caller takes next */
    struct fetcher f[2];
    struct slot slot[AHEAD_SLOTS];
};

/* Whether a reply says the command is done: only a hint (a wrong guess
 * costs a round trip, never correctness). The service writes CommandState
 * after the streams; a quote cannot occur in base64 text. */
static int looks_done(const struct wsm_buf *b)
{
    static const char pat[] = "CommandState/Done\"";
    size_t n = b->len < 4096 ? b->len : 4096;
    return b->data && memmem(b->data + b->len - n, n, pat, sizeof(pat) - 1) != NULL;
}

/* The reply's bytes are in: with two fetchers, a large 200 lets the other
 * send the next Receive now, before this one is unsealed. */
static void ahead_arrived(void *ud, long status, size_t len)
{
    struct fetcher *f = ud;
    struct ahead *a = f->a;
    if (a->nf < 2 || status != 200 || len < AHEAD_MIN_REPLY)
        return;
    pthread_mutex_lock(&a->mu);
    f->passed = 1;
    a->next = f->seq + 1;
    a->claimed = 0;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void *ahead_main(void *arg)
{
    struct fetcher *f = arg;
    struct ahead *a = f->a;
    wsm_session *s = a->sh->s;
    struct wsm_buf req;
    wsm__buf_init(&req, 0);
    for (;;) {
        pthread_mutex_lock(&a->mu);
        while (!a->stop && !a->halt && (a->claimed || a->next >= a->rd + AHEAD_SLOTS))
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop || a->halt) {
            pthread_mutex_unlock(&a->mu);
            break;
        }
        f->seq = a->next;
        f->passed = 0;
        f->in_flight = 1;
        a->claimed = 1;
        a->pending++;
        pthread_mutex_unlock(&a->mu);
        struct slot *sl = &a->slot[f->seq % AHEAD_SLOTS];
        wsm__uuid_urn(sl->msgid);
        wsm__buf_reset(&req);
        enum wsm_err e;
        build_receive(&req, s, a->sh->id, a->cid, sl->msgid, &e);
        sl->error[0] = '\0';
        sl->status = 0;
        wsm__buf_reset(&sl->body);
        if (e) {
            snprintf(sl->error, sizeof(sl->error), "cannot build the request: %s", wsm_strerror(e));
        } else {
            struct wsm_arrived ar = {ahead_arrived, f};
            e = wsm__conn_post_notify(s, f->conn, req.data, req.len, 0, &sl->body, &sl->status,
                                      sl->error, sizeof(sl->error), &ar);
        }
        sl->err = e;
        int last = e || sl->status != 200 || looks_done(&sl->body);
        pthread_mutex_lock(&a->mu);
        f->in_flight = 0;
        sl->filled = 1;
        a->pending--;
        if (last)
            a->halt = 1;
        else if (!f->passed) {
            a->next = f->seq + 1;
            a->claimed = 0;
        }
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        if (last)
            break;
    }
    wsm__buf_free(&req);
    return NULL;
}

/* Ends the fetchers (aborting a Receive in flight) and waits for them. */
static void ahead_stop(wsm_shell *sh)
{
    struct ahead *a = sh->ahead;
    if (!a)
        return;
    int abort[2] = {0, 0};
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    for (int i = 0; i < a->nf; i++)
        abort[i] = a->f[i].running && a->f[i].in_flight;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < a->nf; i++)
        if (abort[i])
            wsm__conn_abort(a->f[i].conn);
    for (int i = 0; i < a->nf; i++) {
        struct fetcher *f = &a->f[i];
        if (f->running)
            pthread_join(f->th, NULL);
        f->running = 0;
        if (abort[i]) { /* an aborted connection is not used again */
            wsm__conn_free(f->conn);
            f->conn = NULL;
        }
    }
    free(a->cid);
    a->cid = NULL;
}

static int ahead_running(const struct ahead *a)
{
    return a && a->cid;
}

static void ahead_free(wsm_shell *sh)
{
    struct ahead *a = sh->ahead;
    if (!a)
        return;
    ahead_stop(sh);
    for (int i = 0; i < 2; i++)
        wsm__conn_free(a->f[i].conn);
    for (int i = 0; i < AHEAD_SLOTS; i++)
        wsm__buf_free(&a->slot[i].body);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
    sh->ahead = NULL;
}

/* Starts fetching ahead for command_id; on any failure the caller simply
 * goes on with one Receive at a time. */
static void ahead_start(wsm_shell *sh, const char *command_id)
{
    struct ahead *a = sh->ahead;
    if (!a) {
        if (!(a = calloc(1, sizeof(*a))))
            return;
        if (pthread_mutex_init(&a->mu, NULL) != 0) {
            free(a);
            return;
        }
        if (pthread_cond_init(&a->cv, NULL) != 0) {
            pthread_mutex_destroy(&a->mu);
            free(a);
            return;
        }
        a->sh = sh;
        a->f[0].a = a->f[1].a = a;
        sh->ahead = a;
    }
    int nf = wsm__session_seals(sh->s) ? 2 : 1;
    for (int i = 0; i < nf; i++)
        if (!a->f[i].conn && wsm__conn_new(sh->s, &a->f[i].conn) != WSM_OK)
            return;
    if (!(a->cid = strdup(command_id)))
        return;
    for (int i = 0; i < AHEAD_SLOTS; i++) {
        wsm__buf_reset(&a->slot[i].body);
        a->slot[i].body.cap = receive_cap(sh->s);
        a->slot[i].filled = 0;
    }
    a->nf = nf;
    a->stop = a->halt = a->claimed = a->pending = 0;
    a->next = a->rd = 0;
    for (int i = 0; i < nf; i++) {
        a->f[i].in_flight = 0;
        if (pthread_create(&a->f[i].th, NULL, ahead_main, &a->f[i]) != 0)
            break;
        a->f[i].running = 1;
    }
    if (!a->f[0].running) {
        free(a->cid);
        a->cid = NULL;
    }
}

enum wsm_err wsm_shell_receive(wsm_shell *sh, const char *command_id, struct wsm_receive *r)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    enum wsm_err e;

    if (!sh || !command_id || !r)
        return WSM_ERR_INVALID_ARG;
    r->done = 0;
    wsm_session *s = sh->s;
    s->error[0] = '\0';
    s->fault_code = 0;
    s->fault_subcode[0] = '\0';
    if (!sh->rx) {
        if (!(sh->rx = calloc(1, sizeof(*sh->rx))))
            return WSM_ERR_NOMEM;
        wsm__buf_init(&sh->rx->out, 0);
        wsm__buf_init(&sh->rx->reply, 0);
    }

    struct ahead *a = sh->ahead;
    if (ahead_running(a) && strcasecmp(a->cid, command_id) != 0)
        ahead_stop(sh);
    if (ahead_running(a)) {
        struct slot *sl = &a->slot[a->rd % AHEAD_SLOTS];
        pthread_mutex_lock(&a->mu);
        while (!sl->filled && !(a->halt && a->pending == 0))
            pthread_cond_wait(&a->cv, &a->mu);
        int have = sl->filled;
        pthread_mutex_unlock(&a->mu);
        if (have) {
            if (sl->err) {
                wsm__session_errorf(s, "%s", sl->error);
                e = sl->err;
            } else {
                e = receive_reply(sh, command_id, r, &sl->body, sl->status, sl->msgid);
            }
            pthread_mutex_lock(&a->mu);
            sl->filled = 0;
            a->rd++;
            int drained = a->halt && a->pending == 0 && !a->slot[a->rd % AHEAD_SLOTS].filled;
            pthread_cond_broadcast(&a->cv);
            pthread_mutex_unlock(&a->mu);
            if (e || r->done || drained)
                ahead_stop(sh);
            return e;
        }
        ahead_stop(sh); /* it ended with nothing more: one at a time again */
    }

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    build_receive(&b, s, sh->id, command_id, msgid, &e);
    if (e) {
        wsm__session_errorf(s, "cannot build the request: %s", wsm_strerror(e));
        wsm__buf_free(&b);
        return e;
    }
    struct wsm_buf *reply = &sh->rx->reply;
    wsm__buf_reset(reply);
    reply->cap = receive_cap(s);
    long status = 0;
    e = wsm__conn_post(s, s->conn, b.data, b.len, 0, reply, &status, s->error, sizeof(s->error));
    wsm__buf_free(&b);
    if (!e)
        e = receive_reply(sh, command_id, r, reply, status, msgid);
    /* Only bulk output is worth a second connection: a reply that only
     * says a stream ended, or a few lines, leaves the next Receive here. */
    if (!e && !r->done && status == 200 && s->receive_ahead && reply->len >= AHEAD_MIN_REPLY)
        ahead_start(sh, command_id);
    return e;
}

enum wsm_err wsm_shell_signal(wsm_shell *sh, const char *command_id, const char *signal)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!sh || !command_id || !signal || !*signal)
        return WSM_ERR_INVALID_ARG;
    int uri = strchr(signal, ':') != NULL;
    if (!uri && strcmp(signal, "terminate") != 0 && strcmp(signal, "ctrl_c") != 0 &&
        strcmp(signal, "ctrl_break") != 0)
        return WSM_ERR_INVALID_ARG;
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_SIGNAL, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body><rsp:Signal CommandId=\""));
    PUT(wsm__buf_xml(&b, command_id));
    PUT(wsm__buf_puts(&b, "\"><rsp:Code>"));
    if (!uri)
        PUT(wsm__buf_puts(&b, SIGNAL_PREFIX));
    PUT(wsm__buf_xml(&b, signal));
    PUT(wsm__buf_puts(&b, "</rsp:Code></rsp:Signal></s:Body></s:Envelope>"));
    if ((e = wsm__post_built(sh->s, &b, e, msgid, &env)))
        return e;
    wsm__envelope_free(env);
    return WSM_OK;
}

enum wsm_err wsm_shell_delete(wsm_shell *sh)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!sh)
        return WSM_ERR_INVALID_ARG;
    ahead_free(sh); /* a Receive in flight would only get a fault now */
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_DELETE, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body/></s:Envelope>"));
    e = wsm__post_built(sh->s, &b, e, msgid, &env);
    wsm__envelope_free(env);
    wsm_shell_free(sh);
    return e;
}
