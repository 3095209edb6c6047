/* node_usage.c - sikhnas-node's usage text, shared with sikhnas-node-uplink
 * (which runs its `sync` and `enroll` commands and says the same). */
#include "node_usage.h"

void node_usage(FILE *fp)
{
    fprintf(fp,
        "usage: sikhnas-node [--db FILE] [--config FILE] [-v|-q] COMMAND [ARGS]\n"
        "\n"
        "commands:\n"
        "  init --district CODE [--areas DIR]   create the store for a district (32.01 or 3201)\n"
        "  officer add --name NAME --phone PHONE --role vet|clerk|reporter|viewer [--village CODE]\n"
        "              [--password-stdin]       also a web login, password read from stdin\n"
        "  officer password --phone PHONE --password-stdin   set or reset a web password\n"
        "  officer list [--json]\n"
        "  points FILE.csv                  a gazetteer's points (code,lat,lon) for the map\n"
        "  report add                           one case report as JSON on stdin\n"
        "  report list [--json] [--limit N]\n"
        "  import FILE.jsonl [--strict] [--rejects FILE] [--again] [--no-progress]\n"
        "  status [--json]\n"
        "  enroll --hub URL --token TOKEN --ca FILE   get this node's certificate from the hub\n"
        "                                       (the token from `sikhnas-hub node add`)\n"
        "  sync [--hub URL] [--ca FILE] [--retry-for S] [--retries N]   push the outbox, pull\n"
        "                                       changes; once (rides out outages for S s, 60)\n"
        "  sms process --spool DIR [--gateway gammu|smstools]   handle the SMS spool's\n"
        "                                       incoming files once (default: sms.gateway)\n"
        "  run [--listen HOST:PORT] [--sms-spool DIR --sms-gateway gammu|smstools]\n"
        "      [--hub URL] [--ca FILE]          the daemon\n"
        "  version\n"
        "\n"
        "options:\n"
        "  --db FILE       the store (default from the config, or /var/lib/sikhnas/node.db)\n"
        "  --config FILE   an INI file of settings (see --help-config)\n"
        "  -v, -q          more or less logging\n"
        "\n"
        "exit status: 0 done, 1 failed, 2 usage, 65 bad input (nothing written), 75 busy\n");
}
