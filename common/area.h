/*
 * area.h - Vietnam's administrative levels and codes, as loaxa names them
 * (issue 18.1; docs/protocol.md "Bulletins from above").
 *
 * province (tỉnh) 2 digits, district (huyện) 3, commune (xã) 5: the codes
 * of the national list of administrative units. A commune's villages are
 * its zones; a cluster is a node. Shared by the node (trust document,
 * node/upper.c), the controller (controller.cfg `area`) and the CLI.
 */
#ifndef LOAXA_AREA_H
#define LOAXA_AREA_H

enum area_level { AREA_NONE = 0, AREA_COMMUNE = 1, AREA_DISTRICT = 2, AREA_PROVINCE = 3 };

#define AREA_CODE_MAX 8 /* 5 digits and the NUL, rounded up */
#define AREA_NAME_MAX 96

/* What an upper level may send to a commune's nodes ("may" lists). */
#define AREA_MAY_EMERGENCY 0x1
#define AREA_MAY_PRIORITY  0x2

/* "commune", "district", "province"; AREA_NONE when s is none of them. */
enum area_level area_level_parse(const char *s);
/* The English name ("?" for AREA_NONE), as in configs and messages. */
const char *area_level_name(enum area_level l);
/* Vietnamese: "xã", "huyện", "tỉnh". */
const char *area_level_vi(enum area_level l);
/* 1 when s is a code of that level: province 2 digits, district 3, commune 5. */
int area_code_valid(enum area_level l, const char *s);
/* The topic of upper-level commands for an area: "loaxa/area/<code>/cmd". */
int area_cmd_topic(char *out, unsigned long outlen, const char *code);

#endif
