/*
 * A PKCS#11 module for the tests only (built with the tests, never installed). It
 * forwards every call to a real module (SoftHSM2) and injects the behaviours SoftHSM2
 * lacks, so that the paths the library codes for them run through the real tools.
 *
 * Configured by environment variables read at the first C_GetFunctionList:
 *   PKCS11_FAULTS_MODULE  the real module (default: SoftHSM2's usual paths)
 *   PKCS11_FAULTS         directives separated by ';':
 *     pin-tries=N          a user-PIN retry counter of N tries per token, kept in
 *                          state=DIR across processes: CKF_USER_PIN_COUNT_LOW once a wrong
 *                          PIN was given since the last good one (as PKCS#11 defines it),
 *                          CKF_USER_PIN_FINAL_TRY when one try is left, and then
 *                          CKF_USER_PIN_LOCKED, where C_Login answers CKR_PIN_LOCKED
 *                          without asking the real module
 *     state=DIR            where the counters live (one file per token serial)
 *     refuse=A,B,...       C_CreateObject answers CKR_ATTRIBUTE_TYPE_INVALID when its
 *                          template has one of these attributes (CKA_ names or 0x hex)
 *     rsa-max=BITS         C_GetMechanismInfo(CKM_RSA_PKCS_KEY_PAIR_GEN) reports at most
 *                          BITS, and C_GenerateKeyPair refuses larger RSA keys
 *     remove-at=FUNC[:N]   the Nth call of FUNC (default the first) finds the device
 *                          removed: it and every later call answer CKR_DEVICE_REMOVED
 *                          (token calls: CKR_TOKEN_NOT_PRESENT)
 *     new-list             each C_GetFunctionList returns a new function list that must be
 *                          initialised on its own, whose sessions are its own (what
 *                          p11-kit's proxy does); otherwise every call returns one list
 *     log=FILE             append a line per interesting call (C_GetFunctionList,
 *                          C_Initialize, C_Login, C_CreateObject, C_GenerateKeyPair,
 *                          refusals), for tests to check what a tool asked of the token
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define MAX_LISTS    8
#define MAX_SESSIONS 64
#define MAX_REFUSED  16

typedef struct list_state {
    int handed_out;  /* returned by C_GetFunctionList */
    int initialised; /* C_Initialize called on this list */
    CK_SESSION_HANDLE sessions[MAX_SESSIONS];
    CK_SLOT_ID session_slots[MAX_SESSIONS];
} list_state;

static struct {
    int loaded;
    void *dl;
    CK_FUNCTION_LIST_PTR real;
    int pin_tries; /* 0: no counter */
    char state_dir[512];
    CK_ATTRIBUTE_TYPE refused[MAX_REFUSED];
    size_t nrefused;
    CK_ULONG rsa_max; /* 0: as the real module */
    char remove_at[64];
    unsigned long remove_nth, remove_calls;
    int removed;
    int new_list;
    char log[512];
    int active; /* lists initialised (new-list): the real module is initialised while > 0 */
    list_state lists[MAX_LISTS];
} g;

static const struct {
    const char *name;
    CK_ULONG value;
} names[] = {
    {"CKA_CLASS", CKA_CLASS},
    {"CKA_TOKEN", CKA_TOKEN},
    {"CKA_PRIVATE", CKA_PRIVATE},
    {"CKA_LABEL", CKA_LABEL},
    {"CKA_VALUE", CKA_VALUE},
    {"CKA_CERTIFICATE_TYPE", CKA_CERTIFICATE_TYPE},
    {"CKA_ISSUER", CKA_ISSUER},
    {"CKA_SERIAL_NUMBER", CKA_SERIAL_NUMBER},
    {"CKA_TRUSTED", CKA_TRUSTED},
    {"CKA_CERTIFICATE_CATEGORY", CKA_CERTIFICATE_CATEGORY},
    {"CKA_NAME_HASH_ALGORITHM", CKA_NAME_HASH_ALGORITHM},
    {"CKA_HASH_OF_SUBJECT_PUBLIC_KEY", CKA_HASH_OF_SUBJECT_PUBLIC_KEY},
    {"CKA_HASH_OF_ISSUER_PUBLIC_KEY", CKA_HASH_OF_ISSUER_PUBLIC_KEY},
    {"CKA_ID", CKA_ID},
    {"CKA_SUBJECT", CKA_SUBJECT},
    {"CKA_START_DATE", CKA_START_DATE},
    {"CKA_END_DATE", CKA_END_DATE},
    {"CKA_PUBLIC_KEY_INFO", CKA_PUBLIC_KEY_INFO},
    {NULL, 0},
};

static const char *attr_name(CK_ATTRIBUTE_TYPE t)
{
    for (int i = 0; names[i].name != NULL; i++) {
        if (names[i].value == t) {
            return names[i].name;
        }
    }
    return "CKA_?";
}

static const char *rv_name(CK_RV rv)
{
    switch (rv) {
    case CKR_OK:
        return "CKR_OK";
    case CKR_PIN_INCORRECT:
        return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED:
        return "CKR_PIN_LOCKED";
    case CKR_USER_ALREADY_LOGGED_IN:
        return "CKR_USER_ALREADY_LOGGED_IN";
    case CKR_ATTRIBUTE_TYPE_INVALID:
        return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_KEY_SIZE_RANGE:
        return "CKR_KEY_SIZE_RANGE";
    case CKR_DEVICE_REMOVED:
        return "CKR_DEVICE_REMOVED";
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return "CKR_CRYPTOKI_NOT_INITIALIZED";
    case CKR_CRYPTOKI_ALREADY_INITIALIZED:
        return "CKR_CRYPTOKI_ALREADY_INITIALIZED";
    case CKR_SESSION_HANDLE_INVALID:
        return "CKR_SESSION_HANDLE_INVALID";
    default:
        return "CKR_other";
    }
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    FILE *f;
    if (g.log[0] == '\0' || (f = fopen(g.log, "a")) == NULL) {
        return;
    }
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* ---- configuration ---------------------------------------------------------------- */

/* A whole decimal (or 0x hex) number, or -1. */
static int parse_ulong(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    *out = strtoul(s, &end, 0);
    return errno == 0 && end != s && *end == '\0' ? 0 : -1;
}

static int parse_attr(const char *s, CK_ATTRIBUTE_TYPE *out)
{
    unsigned long v;
    for (int i = 0; names[i].name != NULL; i++) {
        if (strcmp(names[i].name, s) == 0) {
            *out = names[i].value;
            return 0;
        }
    }
    if (parse_ulong(s, &v) != 0) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Split s in place at sep: returns the first part and moves *rest past it (NULL at end). */
static char *split(char **rest, char sep)
{
    char *s = *rest, *p;
    if (s == NULL) {
        return NULL;
    }
    p = strchr(s, sep);
    if (p != NULL) {
        *p = '\0';
        *rest = p + 1;
    } else {
        *rest = NULL;
    }
    return s;
}

static int directive(char *tok)
{
    char *eq = strchr(tok, '=');
    char *val = eq != NULL ? eq + 1 : (char *)"";
    unsigned long v;

    if (eq != NULL) {
        *eq = '\0';
    }
    if (strcmp(tok, "pin-tries") == 0 && parse_ulong(val, &v) == 0 && v < 100) {
        g.pin_tries = (int)v;
    } else if (strcmp(tok, "state") == 0 && strlen(val) < sizeof(g.state_dir)) {
        memcpy(g.state_dir, val, strlen(val) + 1);
    } else if (strcmp(tok, "log") == 0 && strlen(val) < sizeof(g.log)) {
        memcpy(g.log, val, strlen(val) + 1);
    } else if (strcmp(tok, "rsa-max") == 0 && parse_ulong(val, &v) == 0) {
        g.rsa_max = v;
    } else if (strcmp(tok, "new-list") == 0 && eq == NULL) {
        g.new_list = 1;
    } else if (strcmp(tok, "remove-at") == 0) {
        char *rest = val, *fn = split(&rest, ':');
        if (strlen(fn) >= sizeof(g.remove_at)) {
            return -1;
        }
        memcpy(g.remove_at, fn, strlen(fn) + 1);
        g.remove_nth = 1;
        if (rest != NULL && (parse_ulong(rest, &g.remove_nth) != 0 || g.remove_nth == 0)) {
            return -1;
        }
    } else if (strcmp(tok, "refuse") == 0) {
        char *rest = val, *a;
        while ((a = split(&rest, ',')) != NULL) {
            if (g.nrefused == MAX_REFUSED || parse_attr(a, &g.refused[g.nrefused]) != 0) {
                return -1;
            }
            g.nrefused++;
        }
    } else if (tok[0] != '\0') {
        return -1;
    }
    return 0;
}

static int configure(void)
{
    const char *env = getenv("PKCS11_FAULTS");
    char buf[2048], *rest = buf, *tok;

    if (env == NULL) {
        return 0;
    }
    if (strlen(env) >= sizeof(buf)) {
        fprintf(stderr, "pkcs11-faults: PKCS11_FAULTS too long\n");
        return -1;
    }
    memcpy(buf, env, strlen(env) + 1);
    while ((tok = split(&rest, ';')) != NULL) {
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", tok);
        if (directive(tok) != 0) {
            fprintf(stderr, "pkcs11-faults: bad directive '%s'\n", copy);
            return -1;
        }
    }
    if (g.pin_tries > 0 && g.state_dir[0] == '\0') {
        fprintf(stderr, "pkcs11-faults: pin-tries needs state=DIR\n");
        return -1;
    }
    return 0;
}

static int load_real(void)
{
    static const char *defaults[] = {"/usr/lib/softhsm/libsofthsm2.so",
                                     "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                                     "/usr/lib64/pkcs11/libsofthsm2.so", NULL};
    const char *path = getenv("PKCS11_FAULTS_MODULE");
    CK_C_GetFunctionList get;

    if (g.loaded) {
        return 0;
    }
    if (configure() != 0) {
        return -1;
    }
    if (path != NULL) {
        g.dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    }
    for (int i = 0; path == NULL && g.dl == NULL && defaults[i] != NULL; i++) {
        g.dl = dlopen(defaults[i], RTLD_NOW | RTLD_LOCAL);
    }
    if (g.dl == NULL) {
        fprintf(stderr, "pkcs11-faults: cannot load the real module: %s\n", dlerror());
        return -1;
    }
    get = (CK_C_GetFunctionList)dlsym(g.dl, "C_GetFunctionList");
    if (get == NULL || get(&g.real) != CKR_OK) {
        return -1;
    }
    g.loaded = 1;
    return 0;
}

/* ---- state shared by the wrappers ------------------------------------------------- */

/* Count calls of the function named in remove-at; from the Nth on the device is gone. */
static int removal(const char *fn)
{
    if (g.remove_at[0] != '\0' && !g.removed && strcmp(fn, g.remove_at) == 0 &&
        ++g.remove_calls >= g.remove_nth) {
        g.removed = 1;
        logf_("device removed at %s", fn);
    }
    return g.removed;
}

static int owns_session(int n, CK_SESSION_HANDLE s)
{
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (g.lists[n].sessions[i] == s && s != CK_INVALID_HANDLE) {
            return 1;
        }
    }
    return 0;
}

/* Checks common to every call made through list n. */
static CK_RV gate(int n, const char *fn)
{
    if (g.new_list && !g.lists[n].initialised) {
        logf_("%s list %d -> CKR_CRYPTOKI_NOT_INITIALIZED", fn, n);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    return removal(fn) ? CKR_DEVICE_REMOVED : CKR_OK;
}

static CK_RV gate_session(int n, const char *fn, CK_SESSION_HANDLE s)
{
    CK_RV rv = gate(n, fn);
    if (rv == CKR_OK && g.new_list && !owns_session(n, s)) {
        logf_("%s list %d: session %lu is not this list's -> CKR_SESSION_HANDLE_INVALID", fn, n,
              (unsigned long)s);
        return CKR_SESSION_HANDLE_INVALID;
    }
    return rv;
}

static void token_serial(CK_SLOT_ID slot, char out[17], char label[33])
{
    CK_TOKEN_INFO ti;
    size_t n;
    memset(out, 0, 17);
    memset(label, 0, 33);
    if (g.real->C_GetTokenInfo(slot, &ti) != CKR_OK) {
        return;
    }
    memcpy(out, ti.serialNumber, 16);
    for (n = 16; n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\0'); n--) {
        out[n - 1] = '\0';
    }
    memcpy(label, ti.label, 32);
    for (n = 32; n > 0 && (label[n - 1] == ' ' || label[n - 1] == '\0'); n--) {
        label[n - 1] = '\0';
    }
}

static int failures_get(const char *serial)
{
    char path[700];
    FILE *f;
    int n = 0;
    snprintf(path, sizeof(path), "%s/%s.failures", g.state_dir, serial);
    if ((f = fopen(path, "r")) != NULL) {
        if (fscanf(f, "%d", &n) != 1) {
            n = 0;
        }
        fclose(f);
    }
    return n;
}

static void failures_set(const char *serial, int n)
{
    char path[700];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s.failures", g.state_dir, serial);
    if ((f = fopen(path, "w")) != NULL) {
        fprintf(f, "%d\n", n);
        fclose(f);
    }
}

static CK_SLOT_ID session_slot(CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;
    return g.real->C_GetSessionInfo(s, &si) == CKR_OK ? si.slotID : (CK_SLOT_ID)-1;
}

/* ---- the calls with injected behaviour -------------------------------------------- */

static CK_RV hook_C_Initialize(int n, void *args)
{
    CK_RV rv;
    if (!g.new_list) {
        rv = g.real->C_Initialize(args);
        logf_("C_Initialize list %d -> %s", n, rv_name(rv));
        return rv;
    }
    if (g.lists[n].initialised) {
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    rv = g.active == 0 ? g.real->C_Initialize(args) : CKR_OK;
    if (rv == CKR_OK) {
        g.lists[n].initialised = 1;
        g.active++;
    }
    logf_("C_Initialize list %d -> %s", n, rv_name(rv));
    return rv;
}

static CK_RV hook_C_Finalize(int n, void *reserved)
{
    if (!g.new_list) {
        return g.real->C_Finalize(reserved);
    }
    if (!g.lists[n].initialised) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (g.lists[n].sessions[i] != CK_INVALID_HANDLE) {
            g.real->C_CloseSession(g.lists[n].sessions[i]);
        }
    }
    memset(&g.lists[n], 0, sizeof(g.lists[n]));
    g.lists[n].handed_out = 1;
    if (--g.active == 0) {
        return g.real->C_Finalize(reserved);
    }
    return CKR_OK;
}

static CK_RV hook_C_GetSlotInfo(int n, CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
    CK_RV rv = gate(n, "C_GetSlotInfo");
    if (rv == CKR_DEVICE_REMOVED) {
        rv = g.real->C_GetSlotInfo(slot, info);
        info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
        return rv;
    }
    return rv != CKR_OK ? rv : g.real->C_GetSlotInfo(slot, info);
}

static CK_RV hook_C_GetTokenInfo(int n, CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    CK_RV rv = gate(n, "C_GetTokenInfo");
    char serial[17], label[33];
    if (rv == CKR_DEVICE_REMOVED) {
        return CKR_TOKEN_NOT_PRESENT;
    }
    if (rv != CKR_OK || (rv = g.real->C_GetTokenInfo(slot, info)) != CKR_OK) {
        return rv;
    }
    if (g.pin_tries > 0) {
        int f;
        token_serial(slot, serial, label);
        f = failures_get(serial);
        info->flags &=
            ~(CK_FLAGS)(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
        if (f >= g.pin_tries) {
            info->flags |= CKF_USER_PIN_LOCKED;
        } else if (f > 0) {
            info->flags |= CKF_USER_PIN_COUNT_LOW;
            if (g.pin_tries - f == 1) {
                info->flags |= CKF_USER_PIN_FINAL_TRY;
            }
        } else if (g.pin_tries == 1) {
            info->flags |= CKF_USER_PIN_FINAL_TRY;
        }
    }
    return CKR_OK;
}

static CK_RV hook_C_GetMechanismInfo(int n, CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                                     CK_MECHANISM_INFO_PTR info)
{
    CK_RV rv = gate(n, "C_GetMechanismInfo");
    if (rv != CKR_OK || (rv = g.real->C_GetMechanismInfo(slot, type, info)) != CKR_OK) {
        return rv;
    }
    if (g.rsa_max != 0 && type == CKM_RSA_PKCS_KEY_PAIR_GEN && info->ulMaxKeySize > g.rsa_max) {
        info->ulMaxKeySize = g.rsa_max;
    }
    return CKR_OK;
}

static CK_RV hook_C_OpenSession(int n, CK_SLOT_ID slot, CK_FLAGS flags, void *app, CK_NOTIFY notify,
                                CK_SESSION_HANDLE_PTR s)
{
    CK_RV rv = gate(n, "C_OpenSession");
    if (rv != CKR_OK || (rv = g.real->C_OpenSession(slot, flags, app, notify, s)) != CKR_OK) {
        return rv;
    }
    for (int i = 0; g.new_list && i < MAX_SESSIONS; i++) {
        if (g.lists[n].sessions[i] == CK_INVALID_HANDLE) {
            g.lists[n].sessions[i] = *s;
            g.lists[n].session_slots[i] = slot;
            return CKR_OK;
        }
    }
    if (g.new_list) {
        g.real->C_CloseSession(*s);
        return CKR_SESSION_COUNT;
    }
    return CKR_OK;
}

static void forget_session(int n, CK_SESSION_HANDLE s)
{
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (g.lists[n].sessions[i] == s) {
            g.lists[n].sessions[i] = CK_INVALID_HANDLE;
        }
    }
}

static CK_RV hook_C_CloseSession(int n, CK_SESSION_HANDLE s)
{
    CK_RV rv;
    if (g.new_list && !g.lists[n].initialised) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    if (g.new_list && !owns_session(n, s)) {
        return CKR_SESSION_HANDLE_INVALID;
    }
    rv = g.real->C_CloseSession(s);
    if (g.new_list) {
        forget_session(n, s);
    }
    return rv;
}

static CK_RV hook_C_CloseAllSessions(int n, CK_SLOT_ID slot)
{
    if (!g.new_list) {
        return g.real->C_CloseAllSessions(slot);
    }
    if (!g.lists[n].initialised) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    /* Only this list's sessions: the others belong to other callers. */
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (g.lists[n].sessions[i] != CK_INVALID_HANDLE && g.lists[n].session_slots[i] == slot) {
            g.real->C_CloseSession(g.lists[n].sessions[i]);
            g.lists[n].sessions[i] = CK_INVALID_HANDLE;
        }
    }
    return CKR_OK;
}

static CK_RV hook_C_Login(int n, CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
                          CK_ULONG len)
{
    CK_RV rv = gate_session(n, "C_Login", s);
    char serial[17], label[33];
    int f = 0;

    if (rv != CKR_OK) {
        logf_("C_Login -> %s", rv_name(rv));
        return rv;
    }
    token_serial(session_slot(s), serial, label);
    if (g.pin_tries > 0 && user == CKU_USER) {
        f = failures_get(serial);
        if (f >= g.pin_tries) {
            logf_("C_Login token=%s -> CKR_PIN_LOCKED (not asked)", label);
            return CKR_PIN_LOCKED;
        }
    }
    rv = g.real->C_Login(s, user, pin, len);
    if (g.pin_tries > 0 && user == CKU_USER) {
        if (rv == CKR_PIN_INCORRECT) {
            failures_set(serial, f + 1);
        } else if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
            failures_set(serial, 0);
        }
    }
    logf_("C_Login token=%s -> %s", label, rv_name(rv));
    return rv;
}

static CK_RV hook_C_CreateObject(int n, CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG count,
                                 CK_OBJECT_HANDLE_PTR obj)
{
    CK_RV rv = gate_session(n, "C_CreateObject", s);
    char types[1024] = "";
    size_t used = 0;

    for (CK_ULONG i = 0; i < count && used < sizeof(types); i++) {
        int w = snprintf(types + used, sizeof(types) - used, "%s%s", i ? "," : "",
                         attr_name(t[i].type));
        used += w > 0 ? (size_t)w : 0;
    }
    for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
        for (size_t j = 0; j < g.nrefused; j++) {
            if (t[i].type == g.refused[j]) {
                rv = CKR_ATTRIBUTE_TYPE_INVALID;
            }
        }
    }
    if (rv == CKR_OK) {
        rv = g.real->C_CreateObject(s, t, count, obj);
    }
    logf_("C_CreateObject %s -> %s", types, rv_name(rv));
    return rv;
}

static CK_RV hook_C_GenerateKeyPair(int n, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
                                    CK_ATTRIBUTE_PTR pub, CK_ULONG npub, CK_ATTRIBUTE_PTR priv,
                                    CK_ULONG npriv, CK_OBJECT_HANDLE_PTR hpub,
                                    CK_OBJECT_HANDLE_PTR hpriv)
{
    CK_RV rv = gate_session(n, "C_GenerateKeyPair", s);
    CK_ULONG bits = 0;
    for (CK_ULONG i = 0; i < npub; i++) {
        if (pub[i].type == CKA_MODULUS_BITS && pub[i].ulValueLen == sizeof(CK_ULONG)) {
            memcpy(&bits, pub[i].pValue, sizeof(bits));
        }
    }
    if (rv == CKR_OK && g.rsa_max != 0 && m->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN &&
        bits > g.rsa_max) {
        rv = CKR_KEY_SIZE_RANGE;
    }
    if (rv == CKR_OK) {
        rv = g.real->C_GenerateKeyPair(s, m, pub, npub, priv, npriv, hpub, hpriv);
    }
    logf_("C_GenerateKeyPair %s bits=%lu -> %s",
          m->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN ? "RSA" : "EC", (unsigned long)bits,
          rv_name(rv));
    return rv;
}

/* ---- one wrapper per call and list ------------------------------------------------ */

#define UNPAREN(...)  __VA_ARGS__
#define FIRST(a, ...) a

/* Kinds: S forwards after the session checks, P after the list checks, H calls hook_. */
#define FUNCS(X, n)                                                                                \
    X(n, C_GetInfo, (CK_INFO_PTR a), (a), P)                                                       \
    X(n, C_GetSlotList, (CK_BBOOL a, CK_SLOT_ID_PTR b, CK_ULONG_PTR c), (a, b, c), P)              \
    X(n, C_GetSlotInfo, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b), H)                             \
    X(n, C_GetTokenInfo, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b), H)                           \
    X(n, C_GetMechanismList, (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b, CK_ULONG_PTR c), (a, b, c),   \
      P)                                                                                           \
    X(n, C_GetMechanismInfo, (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c),         \
      (a, b, c), H)                                                                                \
    X(n, C_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d),            \
      (a, b, c, d), P)                                                                             \
    X(n, C_InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c), (a, b, c), S)            \
    X(n, C_SetPIN,                                                                                 \
      (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d, CK_ULONG e),         \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_OpenSession,                                                                            \
      (CK_SLOT_ID a, CK_FLAGS b, CK_VOID_PTR c, CK_NOTIFY d, CK_SESSION_HANDLE_PTR e),             \
      (a, b, c, d, e), H)                                                                          \
    X(n, C_CloseSession, (CK_SESSION_HANDLE a), (a), H)                                            \
    X(n, C_CloseAllSessions, (CK_SLOT_ID a), (a), H)                                               \
    X(n, C_GetSessionInfo, (CK_SESSION_HANDLE a, CK_SESSION_INFO_PTR b), (a, b), S)                \
    X(n, C_GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c), S)  \
    X(n, C_SetOperationState,                                                                      \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e),    \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_Login, (CK_SESSION_HANDLE a, CK_USER_TYPE b, CK_UTF8CHAR_PTR c, CK_ULONG d),            \
      (a, b, c, d), H)                                                                             \
    X(n, C_Logout, (CK_SESSION_HANDLE a), (a), S)                                                  \
    X(n, C_CreateObject,                                                                           \
      (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d), (a, b, c, d), \
      H)                                                                                           \
    X(n, C_CopyObject,                                                                             \
      (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d,                    \
       CK_OBJECT_HANDLE_PTR e),                                                                    \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_DestroyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b), S)                    \
    X(n, C_GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ULONG_PTR c), (a, b, c), S) \
    X(n, C_GetAttributeValue,                                                                      \
      (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d), S)  \
    X(n, C_SetAttributeValue,                                                                      \
      (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d), S)  \
    X(n, C_FindObjectsInit, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c), (a, b, c), S)   \
    X(n, C_FindObjects, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE_PTR b, CK_ULONG c, CK_ULONG_PTR d), \
      (a, b, c, d), S)                                                                             \
    X(n, C_FindObjectsFinal, (CK_SESSION_HANDLE a), (a), S)                                        \
    X(n, C_EncryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c),  \
      S)                                                                                           \
    X(n, C_Encrypt,                                                                                \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_EncryptUpdate,                                                                          \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_EncryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c), S)       \
    X(n, C_DecryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c),  \
      S)                                                                                           \
    X(n, C_Decrypt,                                                                                \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_DecryptUpdate,                                                                          \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_DecryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c), S)       \
    X(n, C_DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b), (a, b), S)                       \
    X(n, C_Digest,                                                                                 \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_DigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c), S)           \
    X(n, C_DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b), S)                        \
    X(n, C_DigestFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c), S)        \
    X(n, C_SignInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c), S)  \
    X(n, C_Sign, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),  \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_SignUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c), S)             \
    X(n, C_SignFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), (a, b, c), S)          \
    X(n, C_SignRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),         \
      (a, b, c), S)                                                                                \
    X(n, C_SignRecover,                                                                            \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_VerifyInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (a, b, c),   \
      S)                                                                                           \
    X(n, C_Verify, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e),    \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_VerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c), S)           \
    X(n, C_VerifyFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c), S)            \
    X(n, C_VerifyRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c),       \
      (a, b, c), S)                                                                                \
    X(n, C_VerifyRecover,                                                                          \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_DigestEncryptUpdate,                                                                    \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_DecryptDigestUpdate,                                                                    \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_SignEncryptUpdate,                                                                      \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_DecryptVerifyUpdate,                                                                    \
      (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_GenerateKey,                                                                            \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d,                    \
       CK_OBJECT_HANDLE_PTR e),                                                                    \
      (a, b, c, d, e), S)                                                                          \
    X(n, C_GenerateKeyPair,                                                                        \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d,                    \
       CK_ATTRIBUTE_PTR e, CK_ULONG f, CK_OBJECT_HANDLE_PTR g_, CK_OBJECT_HANDLE_PTR h),           \
      (a, b, c, d, e, f, g_, h), H)                                                                \
    X(n, C_WrapKey,                                                                                \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d,            \
       CK_BYTE_PTR e, CK_ULONG_PTR f),                                                             \
      (a, b, c, d, e, f), S)                                                                       \
    X(n, C_UnwrapKey,                                                                              \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e,     \
       CK_ATTRIBUTE_PTR f, CK_ULONG g_, CK_OBJECT_HANDLE_PTR h),                                   \
      (a, b, c, d, e, f, g_, h), S)                                                                \
    X(n, C_DeriveKey,                                                                              \
      (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d,            \
       CK_ULONG e, CK_OBJECT_HANDLE_PTR f),                                                        \
      (a, b, c, d, e, f), S)                                                                       \
    X(n, C_SeedRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c), S)             \
    X(n, C_GenerateRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c), S)         \
    X(n, C_GetFunctionStatus, (CK_SESSION_HANDLE a), (a), S)                                       \
    X(n, C_CancelFunction, (CK_SESSION_HANDLE a), (a), S)                                          \
    X(n, C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c), (a, b, c), P)

#define BODY_S(n, name, args)                                                                      \
    CK_RV r_ = gate_session(n, #name, FIRST args);                                                 \
    return r_ != CKR_OK ? r_ : g.real->name args;
#define BODY_P(n, name, args)                                                                      \
    CK_RV r_ = gate(n, #name);                                                                     \
    return r_ != CKR_OK ? r_ : g.real->name args;
#define BODY_H(n, name, args) return hook_##name(n, UNPAREN args);

#define DEFINE(n, name, params, args, kind)                                                        \
    static CK_RV l##n##_##name params                                                              \
    {                                                                                              \
        BODY_##kind(n, name, args)                                                                 \
    }
#define ENTRY(n, name, params, args, kind) .name = l##n##_##name,

#define LIST(n)                                                                                    \
    static CK_RV l##n##_C_Initialize(void *a)                                                      \
    {                                                                                              \
        return hook_C_Initialize(n, a);                                                            \
    }                                                                                              \
    static CK_RV l##n##_C_Finalize(void *a)                                                        \
    {                                                                                              \
        return hook_C_Finalize(n, a);                                                              \
    }                                                                                              \
    FUNCS(DEFINE, n)

LIST(0)
LIST(1)
LIST(2)
LIST(3)
LIST(4)
LIST(5)
LIST(6)
LIST(7)

#define TABLE(n)                                                                                   \
    {                                                                                              \
        .version = {2, 40}, .C_Initialize = l##n##_C_Initialize, .C_Finalize = l##n##_C_Finalize,  \
        .C_GetFunctionList = C_GetFunctionList, FUNCS(ENTRY, n)                                    \
    }

static CK_FUNCTION_LIST tables[MAX_LISTS] = {TABLE(0), TABLE(1), TABLE(2), TABLE(3),
                                             TABLE(4), TABLE(5), TABLE(6), TABLE(7)};

/* The one symbol the module exports. */
__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    int n = 0;
    if (out == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (load_real() != 0) {
        return CKR_GENERAL_ERROR;
    }
    if (g.new_list) {
        /* A list never handed out, else one no longer initialised (its caller is done). */
        for (n = 0; n < MAX_LISTS && g.lists[n].handed_out; n++) {
        }
        for (int i = 0; n == MAX_LISTS && i < MAX_LISTS; i++) {
            if (!g.lists[i].initialised) {
                n = i;
            }
        }
        if (n == MAX_LISTS) {
            return CKR_HOST_MEMORY;
        }
        g.lists[n].handed_out = 1;
    }
    logf_("C_GetFunctionList -> list %d", n);
    *out = &tables[n];
    return CKR_OK;
}
