/* node_usage.h - sikhnas-node's usage text (node_usage.c). */
#ifndef SIKHNAS_NODE_USAGE_H
#define SIKHNAS_NODE_USAGE_H

#include <stdio.h>

/* Prints sikhnas-node's usage to fp. */
void node_usage(FILE *fp);

#endif
