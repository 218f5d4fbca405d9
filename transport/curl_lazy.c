/*
 * libcurl, loaded on first use. A tool linked with this object instead of -lcurl does not
 * load libcurl and its thirty-odd dependencies (GnuTLS, Kerberos, LDAP, SSH, ...) at start:
 * measured, that load is most of trisa-fetch's start-up (the dynamic loader's relocations
 * and page faults), and `trisa-fetch --zip` never uses the network. The first curl_* call
 * (curl_global_init, from trisa_sectigo_new) loads libcurl.so.4 with dlopen; every
 * function below then forwards to it. If it cannot be loaded, curl_global_init fails and
 * the client reports "libcurl initialisation failed".
 *
 * Only the functions transport/ calls are here: a new one the client starts to use links
 * to the real libcurl instead (it still works, but libcurl is then loaded at start again;
 * tests/integration/test_trisa_fetch_zip.sh checks trisa-fetch does not need it).
 */
#define CURL_DISABLE_TYPECHECK 1
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

#include <curl/curl.h>

#define LAZY_CURL_SONAME "libcurl.so.4"

/* name, return type, parameters (with names), the call's arguments, value on failure */
#define LAZY_FUNCTIONS(X)                                                                          \
    X(curl_global_init, CURLcode, (long flags), (flags), CURLE_FAILED_INIT)                        \
    X(curl_easy_init, CURL *, (void), (), NULL)                                                    \
    X(curl_easy_perform, CURLcode, (CURL * h), (h), CURLE_FAILED_INIT)                             \
    X(curl_easy_strerror, const char *, (CURLcode cc), (cc), "libcurl could not be loaded")        \
    X(curl_easy_header, CURLHcode,                                                                 \
      (CURL * h, const char *n, size_t i, unsigned o, int r, struct curl_header **hout),           \
      (h, n, i, o, r, hout), CURLHE_NOT_BUILT_IN)                                                   \
    X(curl_mime_init, curl_mime *, (CURL * h), (h), NULL)                                          \
    X(curl_mime_addpart, curl_mimepart *, (curl_mime * m), (m), NULL)                              \
    X(curl_mime_name, CURLcode, (curl_mimepart * p, const char *n), (p, n), CURLE_FAILED_INIT)     \
    X(curl_mime_filename, CURLcode, (curl_mimepart * p, const char *n), (p, n), CURLE_FAILED_INIT) \
    X(curl_mime_type, CURLcode, (curl_mimepart * p, const char *t), (p, t), CURLE_FAILED_INIT)     \
    X(curl_mime_data, CURLcode, (curl_mimepart * p, const char *d, size_t n), (p, d, n),           \
      CURLE_FAILED_INIT)                                                                           \
    X(curl_slist_append, struct curl_slist *, (struct curl_slist * l, const char *s), (l, s),      \
      NULL)                                                                                        \
    X(curl_getdate, time_t, (const char *p, const time_t *u), (p, u), (time_t)-1)                  \
    X(curl_url, CURLU *, (void), (), NULL)                                                         \
    X(curl_url_get, CURLUcode, (CURLU * u, CURLUPart w, char **p, unsigned f), (u, w, p, f),       \
      CURLUE_OUT_OF_MEMORY)                                                                        \
    X(curl_url_set, CURLUcode, (CURLU * u, CURLUPart w, const char *p, unsigned f), (u, w, p, f),  \
      CURLUE_OUT_OF_MEMORY)

/* Those that return nothing. */
#define LAZY_VOID_FUNCTIONS(X)                                                                     \
    X(curl_easy_cleanup, (CURL * h), (h))                                                          \
    X(curl_easy_reset, (CURL * h), (h))                                                            \
    X(curl_mime_free, (curl_mime * m), (m))                                                        \
    X(curl_slist_free_all, (struct curl_slist * l), (l))                                           \
    X(curl_free, (void *p), (p))                                                                   \
    X(curl_url_cleanup, (CURLU * u), (u))

typedef CURLcode (*setopt_fn)(CURL *, CURLoption, ...);
typedef CURLcode (*getinfo_fn)(CURL *, CURLINFO, ...);

static struct {
#define FIELD(name, ret, params, args, fail) ret(*name) params;
#define VFIELD(name, params, args)           void(*name) params;
    LAZY_FUNCTIONS(FIELD)
    LAZY_VOID_FUNCTIONS(VFIELD)
#undef FIELD
#undef VFIELD
    setopt_fn curl_easy_setopt;
    getinfo_fn curl_easy_getinfo;
} lib;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;

/* dlsym into a function pointer without a cast ISO C does not define. */
static int resolve(void *handle, const char *name, void *fp, size_t size)
{
    void *sym = dlsym(handle, name);
    if (sym == NULL || size != sizeof(sym)) {
        return -1;
    }
    *(void **)fp = sym;
    return 0;
}

static void load(void)
{
    void *h = dlopen(LAZY_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    int ok = h != NULL;
    if (!ok) {
        return;
    }
#define LOAD(name, ...) ok &= resolve(h, #name, &lib.name, sizeof(lib.name)) == 0;
    LAZY_FUNCTIONS(LOAD)
    LAZY_VOID_FUNCTIONS(LOAD)
    LOAD(curl_easy_setopt)
    LOAD(curl_easy_getinfo)
#undef LOAD
    loaded = ok; /* the handle stays open for the life of the process */
}

static int ready(void)
{
    pthread_once(&once, load);
    return loaded;
}

#define DEFINE(name, ret, params, args, fail)                                                      \
    ret name params                                                                                \
    {                                                                                              \
        return ready() ? lib.name args : fail;                                                     \
    }
#define DEFINE_VOID(name, params, args)                                                            \
    void name params                                                                               \
    {                                                                                              \
        if (ready()) {                                                                             \
            lib.name args;                                                                         \
        }                                                                                          \
    }
LAZY_FUNCTIONS(DEFINE)
LAZY_VOID_FUNCTIONS(DEFINE_VOID)
#undef DEFINE
#undef DEFINE_VOID

/* The option number says the type of its argument, as libcurl itself reads it. */
CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...)
{
    va_list ap;
    CURLcode cc;
    if (!ready()) {
        return CURLE_FAILED_INIT;
    }
    va_start(ap, option);
    if (option < CURLOPTTYPE_OBJECTPOINT) {
        cc = lib.curl_easy_setopt(h, option, va_arg(ap, long));
    } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
        cc = lib.curl_easy_setopt(h, option, va_arg(ap, void *));
    } else if (option < CURLOPTTYPE_OFF_T) {
        cc = lib.curl_easy_setopt(h, option, va_arg(ap, void (*)(void)));
    } else if (option < CURLOPTTYPE_BLOB) {
        cc = lib.curl_easy_setopt(h, option, va_arg(ap, curl_off_t));
    } else {
        cc = lib.curl_easy_setopt(h, option, va_arg(ap, void *));
    }
    va_end(ap);
    return cc;
}

/* Every CURLINFO takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    va_list ap;
    CURLcode cc;
    if (!ready()) {
        return CURLE_FAILED_INIT;
    }
    va_start(ap, info);
    cc = lib.curl_easy_getinfo(h, info, va_arg(ap, void *));
    va_end(ap);
    return cc;
}
