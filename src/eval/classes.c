/* The 30 ImageNet VID classes, official order (official-selsa.md §11.1). */
#include "selsa/classes.h"

#include <string.h>

const selsa_vid_class selsa_vid_classes[SELSA_VID_NUM_CLASSES + 1] = {
    {0, "__background__", "__background__"},
    {1, "n02691156", "airplane"},
    {2, "n02419796", "antelope"},
    {3, "n02131653", "bear"},
    {4, "n02834778", "bicycle"},
    {5, "n01503061", "bird"},
    {6, "n02924116", "bus"},
    {7, "n02958343", "car"},
    {8, "n02402425", "cattle"},
    {9, "n02084071", "dog"},
    {10, "n02121808", "domestic_cat"},
    {11, "n02503517", "elephant"},
    {12, "n02118333", "fox"},
    {13, "n02510455", "giant_panda"},
    {14, "n02342885", "hamster"},
    {15, "n02374451", "horse"},
    {16, "n02129165", "lion"},
    {17, "n01674464", "lizard"},
    {18, "n02484322", "monkey"},
    {19, "n03790512", "motorcycle"},
    {20, "n02324045", "rabbit"},
    {21, "n02509815", "red_panda"},
    {22, "n02411705", "sheep"},
    {23, "n01726692", "snake"},
    {24, "n02355227", "squirrel"},
    {25, "n02129604", "tiger"},
    {26, "n04468005", "train"},
    {27, "n01662784", "turtle"},
    {28, "n04530566", "watercraft"},
    {29, "n02062744", "whale"},
    {30, "n02391049", "zebra"},
};

int selsa_vid_class_from_wnid(const char *wnid) {
    if (!wnid) return 0;
    for (int i = 1; i <= SELSA_VID_NUM_CLASSES; i++)
        if (strcmp(wnid, selsa_vid_classes[i].wnid) == 0) return i;
    return 0;
}

int selsa_vid_class_from_name(const char *name) {
    if (!name) return 0;
    for (int i = 1; i <= SELSA_VID_NUM_CLASSES; i++)
        if (strcmp(name, selsa_vid_classes[i].name) == 0) return i;
    return 0;
}

const char *selsa_vid_class_name(int index) {
    return (index >= 0 && index <= SELSA_VID_NUM_CLASSES) ? selsa_vid_classes[index].name : "?";
}

const char *selsa_vid_class_wnid(int index) {
    return (index >= 0 && index <= SELSA_VID_NUM_CLASSES) ? selsa_vid_classes[index].wnid : "?";
}
