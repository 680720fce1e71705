/* The benchmark visits: see visits.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/replica.h"
#include "rng.h"
#include "visits.h"

const char *const field_column[VF_COUNT] = {
    "contact", "position",   "time",       "place",   "purpose",
    "notes",   "objections", "next_steps", "visitor",
};

#define PICK(g, pool) ((pool)[rng_below((g), sizeof(pool) / sizeof((pool)[0]))])

static const char *const surnames_zh[] = {"王", "李", "张", "刘", "陈", "杨", "赵",
                                          "黄", "周", "吴", "徐", "孙", "胡", "朱",
                                          "高", "林", "何", "郭", "马", "罗"};
static const char *const surnames_en[] = {"Wang",  "Li",   "Zhang", "Liu", "Chen", "Yang", "Zhao",
                                          "Huang", "Zhou", "Wu",    "Xu",  "Sun",  "Hu",   "Zhu",
                                          "Gao",   "Lin",  "He",    "Guo", "Ma",   "Luo"};
static const char *const titles[] = {"经理", "总监", "总", "主任", "工", "女士", "先生", "副总"};
static const char *const given_en[] = {"David", "Linda", "Kevin", "Grace", "Tony",
                                       "Amy",   "Jason", "Helen", "Eric",  "Cathy"};
static const char *const positions[] = {
    "采购总监",
    "采购经理 (Purchasing Manager)",
    "IT经理",
    "信息中心主任",
    "财务总监 CFO",
    "运营部主管",
    "技术负责人 / CTO",
    "行政经理",
    "总经理助理",
    "生产部副总",
    "Head of Procurement 采购负责人",
    "区域销售总监",
};
static const char *const cities[] = {"上海", "北京", "深圳", "广州", "杭州",
                                     "成都", "苏州", "南京", "武汉", "西安"};
static const char *const venues[] = {
    "客户会议室",       "客户总部三楼会议室", "客户前台会客区",    "星巴克 (Starbucks)",
    "视频会议 (Teams)", "客户工厂车间",       "我司展厅 showroom", "客户研发中心 R&D center",
};
static const char *const projects[] = {"智慧门店",   "ERP对接",  "CRM升级", "数据中台",
                                       "供应链协同", "移动巡检", "BI报表",  "私有云迁移"};
static const char *const purposes[] = {
    "跟进需求，介绍定制化解决方案", "presentation of the tailored solution and pricing",
    "回访试用情况，收集 feedback",  "商务谈判：讨论报价与付款条件",
    "签约前技术交流，确认部署环境", "年度续约洽谈 (annual renewal)",
    "演示新版报表功能 demo v2.3",   "解答客户提出的安全合规问题",
};
static const char *const note_items[] = {
    "客户目前使用竞品，觉得操作复杂，希望流程更简单",
    "非常关注系统稳定性和售后响应速度",
    "decision maker is the CFO, 采购需要财务审批",
    "希望下个月先做 pilot，覆盖华东区门店",
    "对数据安全要求高，倾向本地部署 (on-premise)",
    "竞品报价更低，我们需要突出服务优势",
    "IT团队人手有限，希望我们提供运维支持",
    "interested in API integration with their SAP system",
    "现有系统数据需要迁移，约有五年的历史订单",
    "老板对移动端审批很感兴趣",
    "上次提出的问题已经解决，客户满意",
    "需要提供同行业成功案例作为参考",
    "wants training for 30 users before go-live",
    "合同期望按年签，付款分三期",
    "对报表的自定义能力有较多需求",
    "客户下季度有扩产计划，可能追加采购",
};
static const char *const objections[] = {
    "对新品牌的售后服务能力有疑虑",
    "价格偏高，超出今年预算 (price above budget)",
    "担心数据迁移的风险和停机时间",
    "需要更多同行业的成功案例",
    "contract term too long, 希望缩短到一年",
    "担心员工学习成本高，推广困难",
    "对云端存储的数据安全有顾虑",
    "交付周期太长，希望一个月内上线",
};
static const char *const visitors[] = {"张伟", "李娜", "王芳", "刘洋",     "陈静",
                                       "杨帆", "赵磊", "黄敏", "Kevin 周", "Amy 吴"};

/* Formats one field into buf (FIELD_MAX bytes); returns its length. */
static size_t gen_field(rng *g, int field, char *buf)
{
    int n = 0;
    unsigned s = rng_below(g, 20);
    switch (field) {
    case VF_CONTACT:
        if (rng_below(g, 5) < 3)
            n = snprintf(buf, FIELD_MAX, "%s%s", surnames_zh[s], PICK(g, titles));
        else
            n = snprintf(buf, FIELD_MAX, "%s%s / %s %s", surnames_zh[s], PICK(g, titles),
                         PICK(g, given_en), surnames_en[s]);
        break;
    case VF_POSITION:
        n = snprintf(buf, FIELD_MAX, "%s", PICK(g, positions));
        break;
    case VF_TIME:
        n = snprintf(buf, FIELD_MAX, "%04u-%02u-%02u %02u:%02u", 2023 + rng_below(g, 2),
                     1 + rng_below(g, 12), 1 + rng_below(g, 28), 8 + rng_below(g, 11),
                     15 * rng_below(g, 4));
        break;
    case VF_PLACE:
        if (rng_below(g, 3) == 0)
            n = snprintf(buf, FIELD_MAX, "%s %s, Room %u", PICK(g, cities), PICK(g, venues),
                         100 + rng_below(g, 900));
        else
            n = snprintf(buf, FIELD_MAX, "%s%s", PICK(g, cities), PICK(g, venues));
        break;
    case VF_PURPOSE:
        n = snprintf(buf, FIELD_MAX, "%s项目：%s", PICK(g, projects), PICK(g, purposes));
        break;
    case VF_NOTES: {
        /* Two or three distinct items of conversation, then the budget. */
        unsigned count = sizeof(note_items) / sizeof(note_items[0]);
        unsigned a = rng_below(g, count), b = (a + 1 + rng_below(g, count - 1)) % count;
        unsigned lo = 20 + 10 * rng_below(g, 50), hi = lo + 10 + 10 * rng_below(g, 30);
        if (rng_below(g, 20) < 11) {
            n = snprintf(buf, FIELD_MAX, "1. %s；2. %s；预算约 %u-%u 万元 CNY。", note_items[a],
                         note_items[b], lo, hi);
        } else {
            unsigned c = b;
            while (c == a || c == b)
                c = rng_below(g, count);
            n = snprintf(buf, FIELD_MAX, "1. %s；2. %s；3. %s；预算约 %u-%u 万元 CNY。",
                         note_items[a], note_items[b], note_items[c], lo, hi);
        }
        break;
    }
    case VF_OBJECTIONS:
        if (rng_below(g, 20) < 3)
            n = snprintf(buf, FIELD_MAX, "%s；%s", PICK(g, objections), PICK(g, objections));
        else
            n = snprintf(buf, FIELD_MAX, "%s", PICK(g, objections));
        break;
    case VF_NEXT_STEPS: {
        unsigned m = 1 + rng_below(g, 12), d = 1 + rng_below(g, 20);
        switch (rng_below(g, 3)) {
        case 0:
            n = snprintf(buf, FIELD_MAX,
                         "%u月%u日前发送%u个同行业成功案例和SLA说明；%u月%u日第二次拜访并现场演示",
                         m, d, 2 + rng_below(g, 3), m, d + 3 + rng_below(g, 5));
            break;
        case 1:
            n = snprintf(buf, FIELD_MAX, "send quotation v%u by %u/%u, 安排技术交流会并邀请%s参加",
                         1 + rng_below(g, 4), m, d, PICK(g, positions));
            break;
        default:
            n = snprintf(buf, FIELD_MAX, "%u月%u日前提交方案书，约%s确认预算和上线时间", m, d,
                         PICK(g, positions));
            break;
        }
        break;
    }
    case VF_VISITOR:
        n = snprintf(buf, FIELD_MAX, "%s", PICK(g, visitors));
        break;
    }
    if (n < 0 || n >= FIELD_MAX) {
        fprintf(stderr, "bench: field %d does not fit in %d bytes\n", field, FIELD_MAX);
        abort();
    }
    return (size_t)n;
}

/* ---- the non-repeating corpus (issue 21.6) ----
 * Free text: sentences of Chinese characters drawn from FREE_HANZI distinct
 * ones (U+4E00 on), mixed with pseudo-English words of 1-4 syllables from
 * FREE_SYLLABLES distinct consonant-vowel-consonant syllables, numbers and
 * punctuation. Nothing is drawn from a list of phrases, so a compressor
 * finds little to share between visits or within one: the text is close to
 * incompressible beyond what the characters' distribution gives. */

#define FREE_HANZI 3000u

static size_t put_hanzi(rng *g, char *p)
{
    unsigned cp = 0x4E00u + rng_below(g, FREE_HANZI); /* 3 bytes of UTF-8 */
    p[0] = (char)(0xE0 | (cp >> 12));
    p[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    p[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

static size_t put_word(rng *g, char *p)
{
    static const char on[] = "bcdfghjklmnprstvwyz", nu[] = "aeiou", co[] = "dgklmnrstx";
    size_t k = 0;
    unsigned syl = 1 + rng_below(g, 4);
    for (unsigned i = 0; i < syl; i++) {
        p[k++] = on[rng_below(g, sizeof on - 1)];
        p[k++] = nu[rng_below(g, sizeof nu - 1)];
        if (rng_below(g, 2))
            p[k++] = co[rng_below(g, sizeof co - 1)];
    }
    return k;
}

/* Free text of about target bytes (at most FIELD_MAX - 1). */
static size_t gen_free(rng *g, size_t target, char *buf)
{
    static const char *const zh_punct[] = {"，", "。", "；", "、"};
    size_t n = 0;
    if (target > FIELD_MAX - 40)
        target = FIELD_MAX - 40;
    while (n < target) {
        unsigned kind = rng_below(g, 10);
        if (kind < 6) { /* a run of 2-8 characters */
            for (unsigned i = 2 + rng_below(g, 7); i > 0 && n < target; i--)
                n += put_hanzi(g, buf + n);
        } else if (kind < 9) { /* an English word */
            buf[n++] = ' ';
            n += put_word(g, buf + n);
            buf[n++] = ' ';
        } else { /* a number */
            n += (size_t)snprintf(buf + n, 12, "%u", rng_below(g, 100000));
        }
        if (rng_below(g, 4) == 0) {
            const char *pu = zh_punct[rng_below(g, 4)];
            memcpy(buf + n, pu, 3);
            n += 3;
        }
    }
    buf[n] = '\0';
    return n;
}

/* The free corpus: names, titles, times and visitors as in the pools (they
 * repeat in life too), the text fields free: about as many bytes per
 * visit as the pools give. */
static size_t gen_field_free(rng *g, int field, char *buf)
{
    switch (field) {
    case VF_PLACE:
        return gen_free(g, 12 + rng_below(g, 16), buf);
    case VF_PURPOSE:
        return gen_free(g, 30 + rng_below(g, 30), buf);
    case VF_NOTES:
        return gen_free(g, 120 + rng_below(g, 120), buf);
    case VF_OBJECTIONS:
        return gen_free(g, 25 + rng_below(g, 40), buf);
    case VF_NEXT_STEPS:
        return gen_free(g, 50 + rng_below(g, 50), buf);
    default:
        return gen_field(g, field, buf);
    }
}

void visit_set_free(visit_set *vs)
{
    free(vs->visits);
    free(vs->arena);
    memset(vs, 0, sizeof *vs);
}

int visit_set_make(visit_set *vs, size_t count)
{
    return visit_set_make_corpus(vs, count, VISITS_POOLS);
}

/* Generates count visits. Returns 0 or FS_ENOMEM; vs is freed by visit_set_free(). */
int visit_set_make_corpus(visit_set *vs, size_t count, visit_corpus corpus)
{
    rng g = {0x5eed0f1e1d5ull};
    char buf[FIELD_MAX];
    size_t used = 0;

    memset(vs, 0, sizeof *vs);
    vs->visits = calloc(count, sizeof *vs->visits);
    vs->arena = malloc(count * VF_COUNT * FIELD_MAX);
    if (vs->visits == NULL || vs->arena == NULL) {
        visit_set_free(vs);
        return FS_ENOMEM;
    }
    vs->count = count;
    vs->min_bytes = SIZE_MAX;
    for (size_t i = 0; i < count; i++) {
        size_t bytes = FS_ID_BYTES; /* the customer id */
        for (int f = 0; f < VF_COUNT; f++) {
            size_t n = corpus == VISITS_FREE ? gen_field_free(&g, f, buf) : gen_field(&g, f, buf);
            memcpy(vs->arena + used, buf, n + 1);
            vs->visits[i].field[f] = vs->arena + used;
            vs->visits[i].len[f] = n;
            used += n + 1;
            bytes += n;
        }
        vs->value_bytes += bytes;
        if (bytes < vs->min_bytes)
            vs->min_bytes = bytes;
        if (bytes > vs->max_bytes)
            vs->max_bytes = bytes;
    }
    return 0;
}

int visit_corpus_parse(const char *arg, visit_corpus *out)
{
    if (strcmp(arg, "pools") == 0)
        *out = VISITS_POOLS;
    else if (strcmp(arg, "free") == 0)
        *out = VISITS_FREE;
    else
        return -1;
    return 0;
}
