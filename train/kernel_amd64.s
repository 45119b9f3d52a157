//go:build amd64 && !purego

#include "textflag.h"

// func kernelAVX2(kb int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, acc bool)
//
// for r in 0..6, j in 0..16:
//     s = sum over k < kb of a[r*ars+k*acs] * b[k*ldb+j]
//     c[r*ldc+j] = s, or c[r*ldc+j] + s if acc
TEXT ·kernelAVX2(SB), NOSPLIT, $0-65
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ ars+16(FP), R10
	SHLQ $2, R10
	MOVQ acs+24(FP), R12
	SHLQ $2, R12
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R13
	SHLQ $2, R13
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R8
	SHLQ $2, R8
	LEAQ (SI)(R10*2), R11
	ADDQ R10, R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	TESTQ CX, CX
	JEQ done
loop:
	VMOVUPS (DI), Y12
	VMOVUPS 32(DI), Y13
	VBROADCASTSS (SI), Y14
	VFMADD231PS Y12, Y14, Y0
	VFMADD231PS Y13, Y14, Y1
	VBROADCASTSS (SI)(R10*1), Y15
	VFMADD231PS Y12, Y15, Y2
	VFMADD231PS Y13, Y15, Y3
	VBROADCASTSS (SI)(R10*2), Y14
	VFMADD231PS Y12, Y14, Y4
	VFMADD231PS Y13, Y14, Y5
	VBROADCASTSS (R11), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VBROADCASTSS (R11)(R10*1), Y14
	VFMADD231PS Y12, Y14, Y8
	VFMADD231PS Y13, Y14, Y9
	VBROADCASTSS (R11)(R10*2), Y15
	VFMADD231PS Y12, Y15, Y10
	VFMADD231PS Y13, Y15, Y11
	ADDQ R12, SI
	ADDQ R12, R11
	ADDQ R13, DI
	DECQ CX
	JNE loop
done:
	MOVQ DX, R9
	MOVBLZX acc+64(FP), AX
	TESTQ AX, AX
	JEQ store
	VADDPS (R9), Y0, Y0
	VADDPS 32(R9), Y1, Y1
	ADDQ R8, R9
	VADDPS (R9), Y2, Y2
	VADDPS 32(R9), Y3, Y3
	ADDQ R8, R9
	VADDPS (R9), Y4, Y4
	VADDPS 32(R9), Y5, Y5
	ADDQ R8, R9
	VADDPS (R9), Y6, Y6
	VADDPS 32(R9), Y7, Y7
	ADDQ R8, R9
	VADDPS (R9), Y8, Y8
	VADDPS 32(R9), Y9, Y9
	ADDQ R8, R9
	VADDPS (R9), Y10, Y10
	VADDPS 32(R9), Y11, Y11
	MOVQ DX, R9
store:
	VMOVUPS Y0, (R9)
	VMOVUPS Y1, 32(R9)
	ADDQ R8, R9
	VMOVUPS Y2, (R9)
	VMOVUPS Y3, 32(R9)
	ADDQ R8, R9
	VMOVUPS Y4, (R9)
	VMOVUPS Y5, 32(R9)
	ADDQ R8, R9
	VMOVUPS Y6, (R9)
	VMOVUPS Y7, 32(R9)
	ADDQ R8, R9
	VMOVUPS Y8, (R9)
	VMOVUPS Y9, 32(R9)
	ADDQ R8, R9
	VMOVUPS Y10, (R9)
	VMOVUPS Y11, 32(R9)
	VZEROUPPER
	RET

// func kernelAVX512(kb int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int, acc bool)
//
// kernelAVX2 for 12 rows, one 16-wide ZMM accumulator per row:
// for r in 0..12, j in 0..16:
//     s = sum over k < kb of a[r*ars+k*acs] * b[k*ldb+j]
//     c[r*ldc+j] = s, or c[r*ldc+j] + s if acc
TEXT ·kernelAVX512(SB), NOSPLIT, $0-65
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ ars+16(FP), R10
	SHLQ $2, R10
	MOVQ acs+24(FP), R12
	SHLQ $2, R12
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R13
	SHLQ $2, R13
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R8
	SHLQ $2, R8
	LEAQ (SI)(R10*2), R11
	ADDQ R10, R11
	LEAQ (R11)(R10*2), AX
	ADDQ R10, AX
	LEAQ (AX)(R10*2), BX
	ADDQ R10, BX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	TESTQ CX, CX
	JEQ done
loop:
	VMOVUPS (DI), Z12
	VBROADCASTSS (SI), Z13
	VFMADD231PS Z12, Z13, Z0
	VBROADCASTSS (SI)(R10*1), Z14
	VFMADD231PS Z12, Z14, Z1
	VBROADCASTSS (SI)(R10*2), Z15
	VFMADD231PS Z12, Z15, Z2
	VBROADCASTSS (R11), Z13
	VFMADD231PS Z12, Z13, Z3
	VBROADCASTSS (R11)(R10*1), Z14
	VFMADD231PS Z12, Z14, Z4
	VBROADCASTSS (R11)(R10*2), Z15
	VFMADD231PS Z12, Z15, Z5
	VBROADCASTSS (AX), Z13
	VFMADD231PS Z12, Z13, Z6
	VBROADCASTSS (AX)(R10*1), Z14
	VFMADD231PS Z12, Z14, Z7
	VBROADCASTSS (AX)(R10*2), Z15
	VFMADD231PS Z12, Z15, Z8
	VBROADCASTSS (BX), Z13
	VFMADD231PS Z12, Z13, Z9
	VBROADCASTSS (BX)(R10*1), Z14
	VFMADD231PS Z12, Z14, Z10
	VBROADCASTSS (BX)(R10*2), Z15
	VFMADD231PS Z12, Z15, Z11
	ADDQ R12, SI
	ADDQ R12, R11
	ADDQ R12, AX
	ADDQ R12, BX
	ADDQ R13, DI
	DECQ CX
	JNE loop
done:
	MOVQ DX, R9
	MOVBLZX acc+64(FP), AX
	TESTQ AX, AX
	JEQ store
	VADDPS (R9), Z0, Z0
	ADDQ R8, R9
	VADDPS (R9), Z1, Z1
	ADDQ R8, R9
	VADDPS (R9), Z2, Z2
	ADDQ R8, R9
	VADDPS (R9), Z3, Z3
	ADDQ R8, R9
	VADDPS (R9), Z4, Z4
	ADDQ R8, R9
	VADDPS (R9), Z5, Z5
	ADDQ R8, R9
	VADDPS (R9), Z6, Z6
	ADDQ R8, R9
	VADDPS (R9), Z7, Z7
	ADDQ R8, R9
	VADDPS (R9), Z8, Z8
	ADDQ R8, R9
	VADDPS (R9), Z9, Z9
	ADDQ R8, R9
	VADDPS (R9), Z10, Z10
	ADDQ R8, R9
	VADDPS (R9), Z11, Z11
	MOVQ DX, R9
store:
	VMOVUPS Z0, (R9)
	ADDQ R8, R9
	VMOVUPS Z1, (R9)
	ADDQ R8, R9
	VMOVUPS Z2, (R9)
	ADDQ R8, R9
	VMOVUPS Z3, (R9)
	ADDQ R8, R9
	VMOVUPS Z4, (R9)
	ADDQ R8, R9
	VMOVUPS Z5, (R9)
	ADDQ R8, R9
	VMOVUPS Z6, (R9)
	ADDQ R8, R9
	VMOVUPS Z7, (R9)
	ADDQ R8, R9
	VMOVUPS Z8, (R9)
	ADDQ R8, R9
	VMOVUPS Z9, (R9)
	ADDQ R8, R9
	VMOVUPS Z10, (R9)
	ADDQ R8, R9
	VMOVUPS Z11, (R9)
	VZEROUPPER
	RET

// The constants of geluAVX2 and geluBackAVX2, 8 copies each: Cephes expf
// (see expf in ops.go) and QuickGELU's 1.702.
DATA geluConst<>+0(SB)/4, $0xbfd9db23
DATA geluConst<>+4(SB)/4, $0xbfd9db23
DATA geluConst<>+8(SB)/4, $0xbfd9db23
DATA geluConst<>+12(SB)/4, $0xbfd9db23
DATA geluConst<>+16(SB)/4, $0xbfd9db23
DATA geluConst<>+20(SB)/4, $0xbfd9db23
DATA geluConst<>+24(SB)/4, $0xbfd9db23
DATA geluConst<>+28(SB)/4, $0xbfd9db23
DATA geluConst<>+32(SB)/4, $0xc2ae0000
DATA geluConst<>+36(SB)/4, $0xc2ae0000
DATA geluConst<>+40(SB)/4, $0xc2ae0000
DATA geluConst<>+44(SB)/4, $0xc2ae0000
DATA geluConst<>+48(SB)/4, $0xc2ae0000
DATA geluConst<>+52(SB)/4, $0xc2ae0000
DATA geluConst<>+56(SB)/4, $0xc2ae0000
DATA geluConst<>+60(SB)/4, $0xc2ae0000
DATA geluConst<>+64(SB)/4, $0x42b00000
DATA geluConst<>+68(SB)/4, $0x42b00000
DATA geluConst<>+72(SB)/4, $0x42b00000
DATA geluConst<>+76(SB)/4, $0x42b00000
DATA geluConst<>+80(SB)/4, $0x42b00000
DATA geluConst<>+84(SB)/4, $0x42b00000
DATA geluConst<>+88(SB)/4, $0x42b00000
DATA geluConst<>+92(SB)/4, $0x42b00000
DATA geluConst<>+96(SB)/4, $0x3fb8aa3b
DATA geluConst<>+100(SB)/4, $0x3fb8aa3b
DATA geluConst<>+104(SB)/4, $0x3fb8aa3b
DATA geluConst<>+108(SB)/4, $0x3fb8aa3b
DATA geluConst<>+112(SB)/4, $0x3fb8aa3b
DATA geluConst<>+116(SB)/4, $0x3fb8aa3b
DATA geluConst<>+120(SB)/4, $0x3fb8aa3b
DATA geluConst<>+124(SB)/4, $0x3fb8aa3b
DATA geluConst<>+128(SB)/4, $0x3f000000
DATA geluConst<>+132(SB)/4, $0x3f000000
DATA geluConst<>+136(SB)/4, $0x3f000000
DATA geluConst<>+140(SB)/4, $0x3f000000
DATA geluConst<>+144(SB)/4, $0x3f000000
DATA geluConst<>+148(SB)/4, $0x3f000000
DATA geluConst<>+152(SB)/4, $0x3f000000
DATA geluConst<>+156(SB)/4, $0x3f000000
DATA geluConst<>+160(SB)/4, $0x3f318000
DATA geluConst<>+164(SB)/4, $0x3f318000
DATA geluConst<>+168(SB)/4, $0x3f318000
DATA geluConst<>+172(SB)/4, $0x3f318000
DATA geluConst<>+176(SB)/4, $0x3f318000
DATA geluConst<>+180(SB)/4, $0x3f318000
DATA geluConst<>+184(SB)/4, $0x3f318000
DATA geluConst<>+188(SB)/4, $0x3f318000
DATA geluConst<>+192(SB)/4, $0xb95e8083
DATA geluConst<>+196(SB)/4, $0xb95e8083
DATA geluConst<>+200(SB)/4, $0xb95e8083
DATA geluConst<>+204(SB)/4, $0xb95e8083
DATA geluConst<>+208(SB)/4, $0xb95e8083
DATA geluConst<>+212(SB)/4, $0xb95e8083
DATA geluConst<>+216(SB)/4, $0xb95e8083
DATA geluConst<>+220(SB)/4, $0xb95e8083
DATA geluConst<>+224(SB)/4, $0x39506967
DATA geluConst<>+228(SB)/4, $0x39506967
DATA geluConst<>+232(SB)/4, $0x39506967
DATA geluConst<>+236(SB)/4, $0x39506967
DATA geluConst<>+240(SB)/4, $0x39506967
DATA geluConst<>+244(SB)/4, $0x39506967
DATA geluConst<>+248(SB)/4, $0x39506967
DATA geluConst<>+252(SB)/4, $0x39506967
DATA geluConst<>+256(SB)/4, $0x3ab743ce
DATA geluConst<>+260(SB)/4, $0x3ab743ce
DATA geluConst<>+264(SB)/4, $0x3ab743ce
DATA geluConst<>+268(SB)/4, $0x3ab743ce
DATA geluConst<>+272(SB)/4, $0x3ab743ce
DATA geluConst<>+276(SB)/4, $0x3ab743ce
DATA geluConst<>+280(SB)/4, $0x3ab743ce
DATA geluConst<>+284(SB)/4, $0x3ab743ce
DATA geluConst<>+288(SB)/4, $0x3c088908
DATA geluConst<>+292(SB)/4, $0x3c088908
DATA geluConst<>+296(SB)/4, $0x3c088908
DATA geluConst<>+300(SB)/4, $0x3c088908
DATA geluConst<>+304(SB)/4, $0x3c088908
DATA geluConst<>+308(SB)/4, $0x3c088908
DATA geluConst<>+312(SB)/4, $0x3c088908
DATA geluConst<>+316(SB)/4, $0x3c088908
DATA geluConst<>+320(SB)/4, $0x3d2aa9c1
DATA geluConst<>+324(SB)/4, $0x3d2aa9c1
DATA geluConst<>+328(SB)/4, $0x3d2aa9c1
DATA geluConst<>+332(SB)/4, $0x3d2aa9c1
DATA geluConst<>+336(SB)/4, $0x3d2aa9c1
DATA geluConst<>+340(SB)/4, $0x3d2aa9c1
DATA geluConst<>+344(SB)/4, $0x3d2aa9c1
DATA geluConst<>+348(SB)/4, $0x3d2aa9c1
DATA geluConst<>+352(SB)/4, $0x3e2aaaaa
DATA geluConst<>+356(SB)/4, $0x3e2aaaaa
DATA geluConst<>+360(SB)/4, $0x3e2aaaaa
DATA geluConst<>+364(SB)/4, $0x3e2aaaaa
DATA geluConst<>+368(SB)/4, $0x3e2aaaaa
DATA geluConst<>+372(SB)/4, $0x3e2aaaaa
DATA geluConst<>+376(SB)/4, $0x3e2aaaaa
DATA geluConst<>+380(SB)/4, $0x3e2aaaaa
DATA geluConst<>+384(SB)/4, $0x3f000000
DATA geluConst<>+388(SB)/4, $0x3f000000
DATA geluConst<>+392(SB)/4, $0x3f000000
DATA geluConst<>+396(SB)/4, $0x3f000000
DATA geluConst<>+400(SB)/4, $0x3f000000
DATA geluConst<>+404(SB)/4, $0x3f000000
DATA geluConst<>+408(SB)/4, $0x3f000000
DATA geluConst<>+412(SB)/4, $0x3f000000
DATA geluConst<>+416(SB)/4, $0x3f800000
DATA geluConst<>+420(SB)/4, $0x3f800000
DATA geluConst<>+424(SB)/4, $0x3f800000
DATA geluConst<>+428(SB)/4, $0x3f800000
DATA geluConst<>+432(SB)/4, $0x3f800000
DATA geluConst<>+436(SB)/4, $0x3f800000
DATA geluConst<>+440(SB)/4, $0x3f800000
DATA geluConst<>+444(SB)/4, $0x3f800000
DATA geluConst<>+448(SB)/4, $0x0000007f
DATA geluConst<>+452(SB)/4, $0x0000007f
DATA geluConst<>+456(SB)/4, $0x0000007f
DATA geluConst<>+460(SB)/4, $0x0000007f
DATA geluConst<>+464(SB)/4, $0x0000007f
DATA geluConst<>+468(SB)/4, $0x0000007f
DATA geluConst<>+472(SB)/4, $0x0000007f
DATA geluConst<>+476(SB)/4, $0x0000007f
DATA geluConst<>+480(SB)/4, $0x3fd9db23
DATA geluConst<>+484(SB)/4, $0x3fd9db23
DATA geluConst<>+488(SB)/4, $0x3fd9db23
DATA geluConst<>+492(SB)/4, $0x3fd9db23
DATA geluConst<>+496(SB)/4, $0x3fd9db23
DATA geluConst<>+500(SB)/4, $0x3fd9db23
DATA geluConst<>+504(SB)/4, $0x3fd9db23
DATA geluConst<>+508(SB)/4, $0x3fd9db23
GLOBL geluConst<>(SB), RODATA|NOPTR, $512

// func geluAVX2(out, inp *float32, n int)
//
// for i < n (a multiple of 8): out[i] = inp[i] / (1 + exp(-1.702 inp[i]))
TEXT ·geluAVX2(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ inp+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	TESTQ CX, CX
	JEQ gdone
gloop:
	VMOVUPS (SI), Y0
	VMULPS geluConst<>+0(SB), Y0, Y1
	VMAXPS geluConst<>+32(SB), Y1, Y1
	VMINPS geluConst<>+64(SB), Y1, Y1
	VMULPS geluConst<>+96(SB), Y1, Y2
	VADDPS geluConst<>+128(SB), Y2, Y2
	VROUNDPS $1, Y2, Y2
	VFNMADD231PS geluConst<>+160(SB), Y2, Y1
	VFNMADD231PS geluConst<>+192(SB), Y2, Y1
	VMOVUPS geluConst<>+224(SB), Y3
	VFMADD213PS geluConst<>+256(SB), Y1, Y3
	VFMADD213PS geluConst<>+288(SB), Y1, Y3
	VFMADD213PS geluConst<>+320(SB), Y1, Y3
	VFMADD213PS geluConst<>+352(SB), Y1, Y3
	VFMADD213PS geluConst<>+384(SB), Y1, Y3
	VMULPS Y1, Y1, Y4
	VFMADD213PS Y1, Y4, Y3
	VADDPS geluConst<>+416(SB), Y3, Y3
	VCVTTPS2DQ Y2, Y2
	VPADDD geluConst<>+448(SB), Y2, Y2
	VPSLLD $23, Y2, Y2
	VMULPS Y2, Y3, Y3
	VADDPS geluConst<>+416(SB), Y3, Y3
	VDIVPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNE gloop
gdone:
	VZEROUPPER
	RET

// func geluBackAVX2(d, inp *float32, n int)
//
// for i < n (a multiple of 8), with s = 1 / (1 + exp(-1.702 inp[i])):
//     d[i] *= s (1 + 1.702 inp[i] (1 - s))
TEXT ·geluBackAVX2(SB), NOSPLIT, $0-24
	MOVQ d+0(FP), DI
	MOVQ inp+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	TESTQ CX, CX
	JEQ bdone
bloop:
	VMOVUPS (SI), Y0
	VMULPS geluConst<>+0(SB), Y0, Y1
	VMAXPS geluConst<>+32(SB), Y1, Y1
	VMINPS geluConst<>+64(SB), Y1, Y1
	VMULPS geluConst<>+96(SB), Y1, Y2
	VADDPS geluConst<>+128(SB), Y2, Y2
	VROUNDPS $1, Y2, Y2
	VFNMADD231PS geluConst<>+160(SB), Y2, Y1
	VFNMADD231PS geluConst<>+192(SB), Y2, Y1
	VMOVUPS geluConst<>+224(SB), Y3
	VFMADD213PS geluConst<>+256(SB), Y1, Y3
	VFMADD213PS geluConst<>+288(SB), Y1, Y3
	VFMADD213PS geluConst<>+320(SB), Y1, Y3
	VFMADD213PS geluConst<>+352(SB), Y1, Y3
	VFMADD213PS geluConst<>+384(SB), Y1, Y3
	VMULPS Y1, Y1, Y4
	VFMADD213PS Y1, Y4, Y3
	VADDPS geluConst<>+416(SB), Y3, Y3
	VCVTTPS2DQ Y2, Y2
	VPADDD geluConst<>+448(SB), Y2, Y2
	VPSLLD $23, Y2, Y2
	VMULPS Y2, Y3, Y3
	VADDPS geluConst<>+416(SB), Y3, Y3
	VMOVUPS geluConst<>+416(SB), Y5
	VDIVPS Y3, Y5, Y5
	VMOVUPS geluConst<>+416(SB), Y6
	VSUBPS Y5, Y6, Y6
	VMULPS geluConst<>+480(SB), Y0, Y7
	VFMADD213PS geluConst<>+416(SB), Y6, Y7
	VMULPS Y5, Y7, Y7
	VMULPS (DI), Y7, Y7
	VMOVUPS Y7, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNE bloop
bdone:
	VZEROUPPER
	RET
