/* The Sectigo connection options shared by sectigo and trisa-fetch. */
#include <stdlib.h>

#include "tools/common/conn.h"

void tool_conn_init(tool_conn *c)
{
    c->username = getenv("SECTIGO_USERNAME");
    c->password = getenv("SECTIGO_PASSWORD");
    c->environment = getenv("SECTIGO_ENVIRONMENT");
    c->endpoint = getenv("SECTIGO_ENDPOINT");
    c->cacert = getenv("SECTIGO_CA_BUNDLE");
}

int tool_conn_option(tool_conn *c, tool_parser *p, int id)
{
    const char *value = p->value;

    switch (id) {
    case TOOL_CONN_USER:
        c->username = value;
        return 1;
    case TOOL_CONN_PASS:
        c->password = tool_opt_secret(p);
        return c->password != NULL ? 1 : -1;
    case TOOL_CONN_ENV:
        c->environment = value;
        return 1;
    case TOOL_CONN_URL:
        c->endpoint = value;
        return 1;
    case TOOL_CONN_CACERT:
        c->cacert = value;
        return 1;
    default:
        return 0;
    }
}

void tool_conn_apply(const tool_conn *c, trisa_sectigo_options *o)
{
    o->username = c->username;
    o->password = c->password;
    o->environment = c->environment;
    o->endpoint = c->endpoint;
    o->ca_bundle = c->cacert;
}
